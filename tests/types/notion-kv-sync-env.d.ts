// Written by `npm run typegen` from each section's data source schema: run it again after a schema change.
export {};

declare module "../../lib/read" {
  interface NotionKvSyncSections {
    blog: {
      Name: "title";
      "Publish at": "date";
      Published: "checkbox";
      Slug: "rich_text";
      Tags: "multi_select";
    };
    docs: {
      Name: "title";
      Order: "number";
      Status: "status";
    };
    authors: {
      Avatar: "files";
      Bio: "rich_text";
      Name: "title";
    };
    news: {
      Name: "title";
      "Publish at": "date";
      Published: "checkbox";
      Slug: "rich_text";
      Tags: "multi_select";
    };
  }
}
