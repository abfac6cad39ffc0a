/** Every error class the webhooks folder throws; callers branch on them with `instanceof`. */

/** The site could not be told to revalidate (lib/webhooks/revalidate.ts); already logged. */
export class RevalidationFailedError extends Error {
  constructor(what: string) {
    super(`revalidation: ${what}`);
    this.name = "RevalidationFailedError";
  }
}
