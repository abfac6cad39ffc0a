import { jsonError } from "@/lib/http/json";
import { SECTIONS } from "@/lib/core/sections";

export const dynamic = "force-dynamic";

/** Any section other than the three static routes lands here. */
async function unknownSection(_request: Request, context: { params: Promise<{ section: string }> }) {
  const { section } = await context.params;
  return jsonError(
    404,
    "unknown_section",
    `unknown section "${section.slice(0, 40)}": use one of ${SECTIONS.join(", ")}`,
  );
}

export {
  unknownSection as GET,
  unknownSection as POST,
  unknownSection as PUT,
  unknownSection as PATCH,
  unknownSection as DELETE,
};
