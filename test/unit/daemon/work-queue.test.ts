import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DesiredStateError, TimeoutError, TransportError } from '../../../src/core/errors.js';
import type { Clock } from '../../../src/daemon/clock.js';
import { WorkQueue } from '../../../src/daemon/work-queue.js';

/** A promise the test settles by hand: stands for one worker call still running. */
function deferred() {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets pending promise callbacks run without moving the fake clock. */
const flush = () => vi.advanceTimersByTimeAsync(0);

/** Jitter-free backoff so delays are exact: 1 s, 2 s, 4 s ... */
const exact = { random: () => 0 };

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('WorkQueue keys', () => {
  it('coalesces duplicate adds of a queued key and hands keys out FIFO', () => {
    const q = new WorkQueue();
    for (const k of ['a', 'b', 'a', 'c', 'b']) q.add(k);
    expect(q.depth()).toBe(3);
    expect([q.get(), q.get(), q.get(), q.get()]).toEqual(['a', 'b', 'c', undefined]);
  });

  it('never hands out a processing key; adds meanwhile requeue it exactly once at done', () => {
    const q = new WorkQueue();
    q.add('a');
    expect(q.get()).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.depth()).toBe(0);
    expect(q.get()).toBeUndefined();
    expect(q.inFlight()).toBe(1);
    q.done('a');
    expect(q.depth()).toBe(1);
    expect(q.get()).toBe('a');
    q.done('a');
    expect(q.get()).toBeUndefined();
    q.done('never-handed-out');
    expect(q.depth()).toBe(0);
  });

  it('addAfter queues at the due time and keeps only the earliest due time per key', async () => {
    const q = new WorkQueue();
    q.addAfter('a', 5_000);
    q.addAfter('a', 1_000);
    q.addAfter('a', 3_000);
    q.addAfter('b', 0);
    expect(q.delayedCount()).toBe(1);
    expect(q.depth()).toBe(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(q.depth()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(q.depth()).toBe(2);
    expect(q.delayedCount()).toBe(0);
    expect([q.get(), q.get()]).toEqual(['b', 'a']);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(q.depth()).toBe(0);
  });

  it('stays bounded under 50 rapid adds of one key', () => {
    const q = new WorkQueue();
    for (let i = 0; i < 50; i++) {
      q.add('web01');
      q.addAfter('web01', 1_000 + i);
      q.addRateLimited('web01');
    }
    expect(q.depth()).toBe(1);
    expect(q.delayedCount()).toBe(1);
    expect(vi.getTimerCount()).toBe(1);
  });

  it('addRateLimited backs off exponentially per key; forget resets', async () => {
    const q = new WorkQueue({ backoff: exact });
    q.addRateLimited('a');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(q.get()).toBe('a');
    q.done('a');
    q.addRateLimited('a');
    await vi.advanceTimersByTimeAsync(1_999);
    expect(q.depth()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(q.get()).toBe('a');
    q.done('a');
    expect(q.failures('a')).toBe(2);
    q.forget('a');
    q.addRateLimited('a');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(q.depth()).toBe(1);
  });

  it('reports depth changes to the hook', () => {
    const depths: number[] = [];
    const q = new WorkQueue({ onDepthChange: (d) => depths.push(d) });
    q.add('a');
    q.add('a');
    q.add('b');
    q.get();
    q.get();
    expect(depths).toEqual([1, 2, 1, 0]);
  });

  it('uses the injected clock for delayed adds', () => {
    const scheduled: { fn: () => void; ms: number }[] = [];
    const clock: Clock = {
      now: () => 1_000_000,
      setTimeout: (fn, ms) => scheduled.push({ fn, ms }),
      clearTimeout: () => {},
    };
    const q = new WorkQueue({ clock, backoff: { baseMs: 250, random: () => 0 } });
    q.addRateLimited('a');
    expect(scheduled.map((s) => s.ms)).toEqual([250]);
    expect(q.depth()).toBe(0);
    scheduled[0]?.fn();
    expect(q.get()).toBe('a');
  });
});

describe('WorkQueue runner', () => {
  it('runs at most `concurrency` workers and never one key twice at once', async () => {
    const q = new WorkQueue();
    const running = new Set<string>();
    const calls: string[] = [];
    let maxRunning = 0;
    const pending = new Map<string, ReturnType<typeof deferred>>();
    q.start(
      async (key) => {
        expect(running.has(key)).toBe(false);
        running.add(key);
        calls.push(key);
        maxRunning = Math.max(maxRunning, running.size);
        const d = deferred();
        pending.set(key, d);
        await d.promise;
        running.delete(key);
      },
      { concurrency: 2 },
    );
    for (const k of ['a', 'b', 'c', 'd']) q.add(k);
    await flush();
    expect([...running]).toEqual(['a', 'b']);
    expect(q.depth()).toBe(2);
    q.add('a');
    q.add('a');
    pending.get('a')?.resolve();
    await flush();
    expect([...running].sort()).toEqual(['b', 'c']);
    for (let i = 0; i < 5; i++) {
      for (const d of pending.values()) d.resolve();
      await flush();
    }
    expect(calls).toEqual(['a', 'b', 'c', 'd', 'a']);
    expect(maxRunning).toBe(2);
    expect(q.inFlight()).toBe(0);
  });

  it('retries a failing key with backoff and resets the backoff on success', async () => {
    const q = new WorkQueue({ backoff: exact, onError: (key, err) => errors.push(`${key}: ${String(err)}`) });
    const errors: string[] = [];
    const times: number[] = [];
    let failuresLeft = 3;
    q.start(
      async () => {
        times.push(Date.now());
        if (failuresLeft-- > 0) throw new TransportError('Unreachable', 'connect ECONNREFUSED', true);
      },
      { concurrency: 1 },
    );
    const t0 = Date.now();
    q.add('web01');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(times.map((t) => t - t0)).toEqual([0, 1_000, 3_000, 7_000]);
    expect(errors).toHaveLength(3);
    expect(q.failures('web01')).toBe(0);
  });

  it('does not retry a non-retryable error, but a later add runs it again', async () => {
    const q = new WorkQueue({ backoff: exact });
    let calls = 0;
    q.start(
      async () => {
        calls++;
        throw new DesiredStateError('broken');
      },
      { concurrency: 1 },
    );
    q.add('a');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toBe(1);
    expect(q.delayedCount()).toBe(0);
    q.add('a');
    await flush();
    expect(calls).toBe(2);
  });

  it('treats a synchronous throw like a rejection', async () => {
    const q = new WorkQueue({ backoff: exact });
    let calls = 0;
    q.start(
      (() => {
        calls++;
        throw new Error('sync');
      }) as unknown as (key: string, signal: AbortSignal) => Promise<void>,
      { concurrency: 1 },
    );
    q.add('a');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toBe(2);
  });

  it('shutdown lets in-flight work finish within the grace period', async () => {
    const q = new WorkQueue();
    const d = deferred();
    let aborted = false;
    q.start(
      async (_key, signal) => {
        signal.addEventListener('abort', () => {
          aborted = true;
        });
        await d.promise;
      },
      { concurrency: 2 },
    );
    q.add('a');
    q.addAfter('b', 1_000);
    await flush();
    let report: unknown;
    const done = q.shutdown({ graceMs: 5_000 }).then((r) => {
      report = r;
    });
    q.add('c');
    await vi.advanceTimersByTimeAsync(2_000);
    expect(report).toBeUndefined();
    d.resolve();
    await done;
    expect(report).toEqual({ aborted: [] });
    expect(aborted).toBe(false);
    expect(q.depth()).toBe(0);
    expect(q.delayedCount()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('shutdown aborts workers still running after the grace period, then resolves when idle', async () => {
    const q = new WorkQueue();
    let reason: unknown;
    const calls: string[] = [];
    q.start(
      (key, signal) => {
        calls.push(key);
        return new Promise<void>((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            reason = signal.reason;
            reject(signal.reason);
          });
        });
      },
      { concurrency: 1 },
    );
    q.add('a');
    q.add('b');
    await flush();
    let report: unknown;
    const done = q.shutdown({ graceMs: 3_000 }).then((r) => {
      report = r;
    });
    await vi.advanceTimersByTimeAsync(2_999);
    expect(report).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    await done;
    expect(report).toEqual({ aborted: ['a'] });
    expect(reason).toBeInstanceOf(TimeoutError);
    expect(calls).toEqual(['a']);
    expect(q.delayedCount()).toBe(0);
    expect(q.inFlight()).toBe(0);
  });

  it('shutdown of an idle queue resolves at once and later adds are ignored', async () => {
    const q = new WorkQueue();
    const calls: string[] = [];
    q.start(async (key) => void calls.push(key), { concurrency: 1 });
    await expect(q.shutdown({ graceMs: 1_000 })).resolves.toEqual({ aborted: [] });
    q.add('a');
    q.addAfter('b', 10);
    q.addRateLimited('c');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toEqual([]);
    expect(q.get()).toBeUndefined();
  });

  it('start refuses a second runner and a concurrency below 1', () => {
    const q = new WorkQueue();
    expect(() => q.start(async () => {}, { concurrency: 0 })).toThrow(RangeError);
    expect(() => q.start(async () => {}, { concurrency: 1.5 })).toThrow(RangeError);
    q.start(async () => {}, { concurrency: 1 });
    expect(() => q.start(async () => {}, { concurrency: 1 })).toThrow(/already started/);
  });
});
