/** The deployment's public URL lives below both HTTP and orchestration (lib/core/base-url.ts). */
export { MISSING_BASE_URL, publicBaseUrl, sectionPath } from "../core/base-url";
