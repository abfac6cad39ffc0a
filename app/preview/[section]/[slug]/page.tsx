/**
 * /preview/<section>/<slug>: a mirrored page rendered from KV alone, as a site
 * would get it (lib/read.ts: images from the files store when mirrored, else
 * through /api/files/<ref>), to see that a
 * bundle is render-complete. Behind the dashboard's sign-in: without the
 * preview cookie (lib/preview/session.ts) the browser goes through
 * /sync/preview, and from there to /sync/signin when not signed in.
 */
import { cookies } from "next/headers";
import { notFound, redirect } from "next/navigation";
import { configuredSections } from "@/lib/dashboard/sections";
import { dashboardSecret, readSession } from "@/lib/dashboard/session";
import { logEvent } from "@/lib/core/log";
import type { PageBundle } from "@/lib/mirror/shapes";
import { type PreviewData, loadPreview, markdownImages } from "@/lib/preview/load";
import { PREVIEW_COOKIE, previewPassUrl, previewPath, slugParam } from "@/lib/preview/session";
import { Blocks, collectHeadings } from "../../blocks/render";
import { fileUrl, safeSrc } from "../../blocks/context";
import { Icon } from "../../blocks/text";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

interface Params {
  params: Promise<{ section: string; slug: string }>;
}

export async function generateMetadata({ params }: Params) {
  const { section, slug } = await params;
  return { title: `Preview · ${section}/${slugParam(slug) ?? slug}`, robots: { index: false, follow: false } };
}

function Cover({ cover }: { cover: unknown }) {
  const src = safeSrc(fileUrl(cover));
  // eslint-disable-next-line @next/next/no-img-element -- the file route serves it
  return src ? <img className="preview-cover" src={src} alt="" /> : null;
}

function Problem({ title, text }: { title: string; text: string }) {
  return (
    <main className="preview">
      <p className="preview-bar">
        <a href="/sync">← Dashboard</a>
      </p>
      <h1>{title}</h1>
      <p className="preview-problem" role="alert">
        {text}
      </p>
    </main>
  );
}

function MarkdownImages({ markdown }: { markdown: string }) {
  const images = markdownImages(markdown).flatMap((image) => {
    const src = safeSrc(image.src);
    return src ? [{ ...image, src }] : [];
  });
  if (images.length === 0) return null;
  return (
    <div className="preview-markdown-images">
      {images.map((image, i) => (
        <figure key={i} data-markdown-image>
          {/* eslint-disable-next-line @next/next/no-img-element -- the files store or the file route serves it */}
          <img src={image.src} alt={image.alt} decoding="async" />
          {image.alt && <figcaption>{image.alt}</figcaption>}
        </figure>
      ))}
    </div>
  );
}

function Content({ bundle, links }: PreviewData) {
  if (bundle.content === "markdown") {
    return (
      <section className="preview-markdown" data-content="markdown">
        <p className="muted">A markdown bundle (SYNC_CONTENT=markdown): shown as Notion sent it, its images below.</p>
        <pre>{bundle.markdown}</pre>
        <MarkdownImages markdown={bundle.markdown} />
      </section>
    );
  }
  const blocks = Array.isArray(bundle.blocks) ? bundle.blocks : [];
  return (
    <article className="preview-body" data-block-count={bundle.blockCount}>
      <Blocks blocks={blocks} ctx={{ links, headings: collectHeadings(blocks) }} />
    </article>
  );
}

function Facts({ bundle }: { bundle: PageBundle }) {
  return (
    <dl className="preview-facts">
      <div>
        <dt>Section</dt>
        <dd>{bundle.section}</dd>
      </div>
      <div>
        <dt>Slug</dt>
        <dd>
          <code>{bundle.slug}</code>
        </dd>
      </div>
      <div>
        <dt>Edited in Notion</dt>
        <dd>{bundle.last_edited_time}</dd>
      </div>
      <div>
        <dt>Synced</dt>
        <dd>{bundle.synced_at}</dd>
      </div>
      {typeof bundle.blockCount === "number" && (
        <div>
          <dt>Blocks</dt>
          <dd>{bundle.blockCount}</dd>
        </div>
      )}
    </dl>
  );
}

export default async function PreviewPage({ params }: Params) {
  const { section, slug: rawSlug } = await params;
  const slug = slugParam(rawSlug);
  const known = configuredSections(process.env).includes(section);
  const secret = dashboardSecret(process.env);
  const session = readSession(secret, (await cookies()).get(PREVIEW_COOKIE)?.value);
  if (!session) {
    // The target is rebuilt from what was asked, encoded: /sync/preview accepts nothing but a preview path.
    redirect(known && slug ? previewPassUrl(previewPath(section, slug)) : "/sync");
  }
  if (!known || !slug) notFound();

  let data: PreviewData | null;
  try {
    data = await loadPreview(section, slug);
  } catch (error) {
    logEvent(
      "preview.error",
      { section, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) },
      "warn",
    );
    const kv = error instanceof Error && /^kv\b/.test(error.message);
    return (
      <Problem
        title="Preview unavailable"
        text={
          kv
            ? "The KV store could not be reached (see the function log)."
            : "The page could not be read (see the function log)."
        }
      />
    );
  }
  if (!data) notFound();
  const { bundle } = data;

  return (
    <main className="preview" data-section={section} data-slug={bundle.slug}>
      <p className="preview-bar">
        <a href="/sync">← Dashboard</a>
        <span className="muted"> · Preview from KV: what a site reading the mirror gets</span>
      </p>
      <Cover cover={bundle.cover} />
      <header className="preview-header">
        <Icon icon={bundle.icon} className="preview-icon" />
        <h1>{bundle.title || "Untitled"}</h1>
      </header>
      <Facts bundle={bundle} />
      <Content {...data} />
    </main>
  );
}
