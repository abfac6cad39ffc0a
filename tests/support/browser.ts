/**
 * A real headless Chromium for browser tests, driven by playwright-core (no
 * browser download: Debian's `chromium` package, which .ci/run installs), and
 * a recorder of everything a page loads, so a test can check what reached
 * the browser.
 */
import { existsSync } from "node:fs";
import { type Browser, type Page, type Response, chromium } from "playwright-core";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

export interface LoadedBody {
  url: string;
  status: number;
  type: string;
  text: string;
}

export interface TrafficRecorder {
  /** Every URL a recorded page requested (documents, scripts, fetches, redirects followed). */
  urls(): string[];
  /** Bodies of documents, scripts, stylesheets and fetch/XHR answers, once settle() has run. */
  bodies(): LoadedBody[];
  /** Every response status seen, by URL, in order. */
  responses(): { url: string; status: number; method: string }[];
  /** Waits for the bodies still being read. */
  settle(): Promise<void>;
  record(page: Page): void;
}

const TEXT_TYPES = new Set(["document", "script", "stylesheet", "fetch", "xhr"]);

export function trafficRecorder(): TrafficRecorder {
  const urls: string[] = [];
  const bodies: LoadedBody[] = [];
  const responses: { url: string; status: number; method: string }[] = [];
  const pending = new Set<Promise<void>>();
  const onResponse = (response: Response) => {
    const request = response.request();
    responses.push({ url: response.url(), status: response.status(), method: request.method() });
    const type = request.resourceType();
    if (!TEXT_TYPES.has(type) || (response.status() >= 300 && response.status() < 400)) return;
    const read = response
      .text()
      .then((text) => void bodies.push({ url: response.url(), status: response.status(), type, text }))
      .catch(() => {}) // a body the page navigated away from
      .finally(() => pending.delete(read));
    pending.add(read);
  };
  return {
    urls: () => [...urls],
    bodies: () => [...bodies],
    responses: () => [...responses],
    async settle() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
    record(page) {
      page.on("request", (request) => void urls.push(request.url()));
      page.on("response", onResponse);
    },
  };
}
