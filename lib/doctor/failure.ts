/**
 * Network failures told as a kind ("connection refused"), never as the
 * client's own message, which may carry a host, a URL or a credential.
 */

export class DoctorTimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms / 1000} s`);
    this.name = "DoctorTimeoutError";
  }
}

/** `work`, or a DoctorTimeoutError after `ms` (the caller closes whatever still hangs). */
export async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DoctorTimeoutError(ms)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const KINDS: { test: RegExp; say: string }[] = [
  { test: /ERR_INVALID_URL|Invalid URL/, say: "its URL cannot be parsed" },
  { test: /ECONNREFUSED|connection refused/i, say: "connection refused" },
  { test: /ENOTFOUND|EAI_AGAIN|getaddrinfo/i, say: "its host name does not resolve" },
  {
    test: /WRONGPASS|NOAUTH|invalid password|invalid username-password|unauthori[sz]ed|\b401\b|\bWRONGTOKEN\b/i,
    say: "the credentials were refused",
  },
  { test: /DoctorTimeoutError|ETIMEDOUT|timed? ?out|timeout|did not answer within|aborted/i, say: "no answer in time" },
  {
    test: /ECONNRESET|EPIPE|socket hang up|socket closed|connection (was )?closed|fetch failed|network/i,
    say: "the connection failed",
  },
  { test: /EACCES|EPERM|EROFS|permission denied|read-only/i, say: "permission denied" },
];

/** Every message, name and code along an error's cause chain. */
function haystack(error: unknown): string {
  const parts: string[] = [];
  let e: unknown = error;
  for (let depth = 0; e && depth < 8; depth++) {
    if (!(e instanceof Error)) {
      parts.push(String(e));
      break;
    }
    const code = (e as { code?: unknown }).code;
    parts.push(e.name, e.message, typeof code === "string" ? code : "");
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(" ");
}

/** A short, value-free description of why a call failed. */
export function failureKind(error: unknown): string {
  const text = haystack(error);
  const kind = KINDS.find((k) => k.test.test(text));
  if (kind) return kind.say;
  return `it failed (${error instanceof Error ? error.name : "unknown error"})`;
}
