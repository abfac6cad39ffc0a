/**
 * The time an invocation may spend, measured from the request's start. One
 * object is passed down so that every wait and every request timeout is
 * bounded by what is left.
 */
export interface Deadline {
  /** Milliseconds left before the budget is spent (never negative). */
  remaining(): number;
  elapsed(): number;
  expired(): boolean;
  readonly budgetMs: number;
}

export function createDeadline(
  budgetMs: number,
  startedAt: number = Date.now(),
  now: () => number = Date.now,
): Deadline {
  return {
    budgetMs,
    remaining: () => Math.max(0, startedAt + budgetMs - now()),
    elapsed: () => now() - startedAt,
    expired: () => now() >= startedAt + budgetMs,
  };
}

/** Thrown when a wait or a request would not fit in what is left of the budget. */
export class BudgetExhaustedError extends Error {
  constructor(message = "invocation budget exhausted") {
    super(message);
    this.name = "BudgetExhaustedError";
  }
}

/** Sleeps `ms`, or rejects with BudgetExhaustedError at once if that would overrun the deadline. */
export async function sleepWithin(ms: number, deadline: Deadline): Promise<void> {
  if (ms > deadline.remaining()) throw new BudgetExhaustedError();
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
}
