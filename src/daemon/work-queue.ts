import { type Backoff, type BackoffOptions, createBackoff } from '../core/backoff.js';
import { HostopError, TimeoutError } from '../core/errors.js';
import { type Clock, type TimerHandle, systemClock } from './clock.js';

/**
 * Processes one key. Resolving means the key is converged (its backoff is reset); rejecting asks for a
 * retry with backoff, unless the error is a non-retryable HostopError (then the next add or resync retries).
 * Must honour `signal`: it is aborted when shutdown's grace period runs out.
 */
export type Worker = (key: string, signal: AbortSignal) => Promise<void>;

export interface WorkQueueOptions {
  clock?: Clock;
  /** A backoff instance, or options for the default one (base 1 s, cap 5 min, jitter 0.2). */
  backoff?: Backoff | BackoffOptions;
  /** Called with the new depth whenever the number of queued keys changes (for the depth gauge). */
  onDepthChange?: (depth: number) => void;
  /** Called when a worker rejects, before the key is retried; for logging. Must not throw. */
  onError?: (key: string, err: unknown) => void;
}

/** What shutdown had to do. */
export interface ShutdownReport {
  /** Keys whose workers were still running at the end of the grace period and got their signal aborted. */
  aborted: string[];
}

interface Running {
  controller: AbortController;
  settled: Promise<void>;
}

/**
 * A deduplicating, rate-limited work queue of keys (host names), after client-go's workqueue.
 *
 * Contract:
 * - a key is queued at most once: adds of a queued key coalesce;
 * - a key handed out (by `get` or to the runner's worker) is never handed out again before `done(key)`;
 *   adds meanwhile mark it dirty and it is queued once more at `done`;
 * - a key has at most one pending delayed add, due at the earliest time asked for;
 * - after `shutdown` starts, adds are ignored and nothing is handed out.
 * Memory is O(distinct keys). No method throws except `start` (twice, or concurrency < 1).
 */
export class WorkQueue {
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly onDepthChange?: (depth: number) => void;
  private readonly onError?: (key: string, err: unknown) => void;
  private readonly queue: string[] = [];
  /** Keys that need processing: queued ones and processing ones added again. */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { due: number; timer: TimerHandle }>();
  private readonly running = new Map<string, Running>();
  private worker?: Worker;
  private concurrency = 0;
  private stopping = false;
  private lastDepth = 0;

  constructor(options: WorkQueueOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.backoff =
      options.backoff !== undefined && 'next' in options.backoff
        ? options.backoff
        : createBackoff(options.backoff);
    this.onDepthChange = options.onDepthChange;
    this.onError = options.onError;
  }

  /** Marks `key` as needing work now. */
  add(key: string): void {
    if (this.stopping || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.queue.push(key);
    this.depthChanged();
    this.pump();
  }

  /** Adds `key` after `ms`; keeps only the earliest pending due time per key. `ms <= 0` adds now. */
  addAfter(key: string, ms: number): void {
    if (this.stopping) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const due = this.clock.now() + ms;
    const pending = this.delayed.get(key);
    if (pending !== undefined) {
      if (pending.due <= due) return;
      this.clock.clearTimeout(pending.timer);
    }
    const timer = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { due, timer });
  }

  /** Adds `key` after its next backoff delay (one more failure recorded). */
  addRateLimited(key: string): void {
    if (this.stopping) return;
    this.addAfter(key, this.backoff.next(key));
  }

  /** Resets `key`'s backoff (after a success, or when the key left the desired state). */
  forget(key: string): void {
    this.backoff.forget(key);
  }

  /** Resolves once no worker of `key` is running (at once when none is). */
  settled(key: string): Promise<void> {
    return this.running.get(key)?.settled ?? Promise.resolve();
  }

  /** Consecutive failures of `key` since it was last forgotten. */
  failures(key: string): number {
    return this.backoff.failures(key);
  }

  /** Hands out the next queued key and marks it processing; undefined when none is queued or stopping. */
  get(): string | undefined {
    if (this.stopping) return undefined;
    const key = this.queue.shift();
    if (key === undefined) return undefined;
    this.depthChanged();
    this.processing.add(key);
    this.dirty.delete(key);
    return key;
  }

  /** Ends processing of `key`; requeues it if it was added meanwhile. A no-op for a key not processing. */
  done(key: string): void {
    if (!this.processing.delete(key)) return;
    if (this.dirty.has(key) && !this.stopping) {
      this.queue.push(key);
      this.depthChanged();
    }
    this.pump();
  }

  /** Keys waiting to be handed out (not counting processing or delayed ones). */
  depth(): number {
    return this.queue.length;
  }

  /** Keys handed out and not yet done. */
  inFlight(): number {
    return this.processing.size;
  }

  /** Keys with a pending delayed add. */
  delayedCount(): number {
    return this.delayed.size;
  }

  /**
   * Runs `worker` on queued keys, at most `concurrency` at once, until shutdown. Do not mix with manual
   * `get`/`done`. Throws RangeError for concurrency < 1 and Error when already started.
   */
  start(worker: Worker, options: { concurrency: number }): void {
    if (this.worker !== undefined) throw new Error('work queue already started');
    if (!(Number.isInteger(options.concurrency) && options.concurrency >= 1)) {
      throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
    }
    this.worker = worker;
    this.concurrency = options.concurrency;
    this.pump();
  }

  /**
   * Stops handing out keys, drops queued and delayed keys, waits up to `graceMs` for running workers, then
   * aborts the signals of those still running (reason: TimeoutError) and resolves once every worker has
   * settled. A worker that ignores its signal keeps this pending: callers wanting a hard bound race it.
   */
  async shutdown(options: { graceMs: number }): Promise<ShutdownReport> {
    this.stopping = true;
    for (const { timer } of this.delayed.values()) this.clock.clearTimeout(timer);
    this.delayed.clear();
    this.queue.length = 0;
    this.dirty.clear();
    this.depthChanged();
    const settledAll = () => Promise.all([...this.running.values()].map((r) => r.settled));
    if (this.running.size === 0) return { aborted: [] };
    let timer: TimerHandle | undefined;
    const graceOver = new Promise<true>((resolve) => {
      timer = this.clock.setTimeout(() => resolve(true), Math.max(0, options.graceMs));
    });
    const timedOut = await Promise.race([settledAll().then(() => false), graceOver]);
    this.clock.clearTimeout(timer);
    if (!timedOut) return { aborted: [] };
    const aborted = [...this.running.keys()];
    for (const r of this.running.values())
      r.controller.abort(new TimeoutError('shutdown grace', options.graceMs));
    await settledAll();
    return { aborted };
  }

  private pump(): void {
    const worker = this.worker;
    if (worker === undefined) return;
    while (!this.stopping && this.running.size < this.concurrency) {
      const key = this.get();
      if (key === undefined) return;
      const controller = new AbortController();
      const settled = this.runOne(worker, key, controller.signal);
      // runOne settles asynchronously at the earliest, so the entry exists before it is deleted.
      this.running.set(key, { controller, settled });
    }
  }

  private async runOne(worker: Worker, key: string, signal: AbortSignal): Promise<void> {
    try {
      await Promise.resolve().then(() => worker(key, signal));
      this.backoff.forget(key);
    } catch (err) {
      try {
        this.onError?.(key, err);
      } catch {
        // A failing log hook must not cost the key its retry.
      }
      if (err instanceof HostopError && !err.retryable) this.backoff.forget(key);
      else this.addRateLimited(key);
    } finally {
      this.running.delete(key);
      this.done(key);
    }
  }

  private depthChanged(): void {
    if (this.queue.length === this.lastDepth) return;
    this.lastDepth = this.queue.length;
    this.onDepthChange?.(this.lastDepth);
  }
}
