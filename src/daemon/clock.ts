/**
 * Time as the daemon's building blocks see it. Injected so that timing logic (backoff, delayed adds,
 * debounced writes, grace periods) is tested deterministically; production uses `systemClock`.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds; the handle cancels it. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a pending call; a no-op for one that already ran or was cancelled. */
  clearTimeout(handle: TimerHandle): void;
}

/** Opaque handle of a pending timer. */
export type TimerHandle = unknown;

/** Real time. Looks the timer functions up on every call, so test frameworks' fake timers apply to it. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};
