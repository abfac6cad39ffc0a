/** A test's engine clock ahead of the real one: Date shifted by what `advance` added; timers are untouched. */
export interface ShiftedClock {
  /** Replaces the global Date (now(), and new Date() without arguments) with the shifted one. */
  install(): void;
  /** Puts the real Date back. */
  restore(): void;
  advance(ms: number): void;
}

export function shiftedClock(): ShiftedClock {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  let shiftMs = 0;
  const Shifted = new Proxy(RealDate, {
    construct(target, args, newTarget) {
      return Reflect.construct(target, args.length === 0 ? [realNow() + shiftMs] : args, newTarget);
    },
    get(target, prop, receiver) {
      if (prop === "now") return () => realNow() + shiftMs;
      return Reflect.get(target, prop, receiver);
    },
  });
  return {
    install: () => void (globalThis.Date = Shifted as DateConstructor),
    restore: () => void (globalThis.Date = RealDate),
    advance: (ms) => void (shiftMs += ms),
  };
}
