/**
 * Exponential backoff with jitter, as client-go's ItemExponentialFailureRateLimiter: each consecutive failure
 * doubles the next delay, up to a cap; a success starts it over. Jitter spreads the retries of hosts that
 * failed together (a network blip) so they do not come back in lockstep. Shared by the daemon's work queue
 * (per key, `createBackoff`) and the SSH connection pool (per host entry, `backoffDelay`).
 */

export interface BackoffOptions {
  /** Delay after the first failure. Default 1 s. */
  baseMs?: number;
  /** Upper bound of any delay. Default 5 min. */
  capMs?: number;
  /** Fraction (0..1) by which a delay is randomly shortened. Default 0.2. */
  jitter?: number;
  /** Uniform random in [0, 1); default Math.random. */
  random?: () => number;
}

/** Options with every default filled in and checked. */
export type BackoffPolicy = Required<BackoffOptions>;

/**
 * Contract: the n-th consecutive `next(key)` (n from 0) returns `backoffDelay(n, policy)`. Keys are independent.
 * Memory holds one counter per key that failed and was not forgotten. Never throws.
 */
export interface Backoff {
  /** Records one more failure of `key` and returns how long to wait before retrying it, in ms. */
  next(key: string): number;
  /** Consecutive failures recorded for `key` since it was last forgotten. */
  failures(key: string): number;
  /** Resets `key` (after a success, or when the key left the desired state). */
  forget(key: string): void;
}

export const DEFAULT_BACKOFF = { baseMs: 1_000, capMs: 300_000, jitter: 0.2 } as const;

/** Fills in the defaults; throws RangeError for a non-positive base, a cap below base or jitter outside [0, 1]. */
export function backoffPolicy(options: BackoffOptions = {}): BackoffPolicy {
  const baseMs = options.baseMs ?? DEFAULT_BACKOFF.baseMs;
  const capMs = options.capMs ?? DEFAULT_BACKOFF.capMs;
  const jitter = options.jitter ?? DEFAULT_BACKOFF.jitter;
  if (!(baseMs > 0) || !(capMs >= baseMs) || !(jitter >= 0 && jitter <= 1)) {
    throw new RangeError(`invalid backoff: base ${baseMs} ms, cap ${capMs} ms, jitter ${jitter}`);
  }
  return { baseMs, capMs, jitter, random: options.random ?? Math.random };
}

/**
 * The delay before the retry that follows failure n (n from 0, consecutive), in ms: a d with
 * `(1 - jitter) * min(cap, base * 2^n) <= d <= min(cap, base * 2^n)`, so never more than the cap and never
 * negative.
 */
export function backoffDelay(n: number, policy: BackoffPolicy): number {
  // 2^n overflows to Infinity for large n, which min() turns into the cap.
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** n);
  const r = Math.min(Math.max(policy.random(), 0), 1);
  return ceiling * (1 - policy.jitter * r);
}

/** A per-key backoff; throws RangeError for invalid options (see backoffPolicy). */
export function createBackoff(options: BackoffOptions = {}): Backoff {
  const policy = backoffPolicy(options);
  const counts = new Map<string, number>();
  return {
    next(key) {
      const n = counts.get(key) ?? 0;
      counts.set(key, n + 1);
      return backoffDelay(n, policy);
    },
    failures: (key) => counts.get(key) ?? 0,
    forget(key) {
      counts.delete(key);
    },
  };
}
