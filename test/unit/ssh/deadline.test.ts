import { describe, expect, it } from 'vitest';
import { ApplyError, TimeoutError, TransportError } from '../../../src/core/errors.js';
import { deadline, untilAborted } from '../../../src/ssh/deadline.js';

describe('deadline', () => {
  it('aborts with a TimeoutError naming phase and host', async () => {
    const dl = deadline('request', 20, 'web-01');
    const err = await untilAborted(new Promise<never>(() => {}), dl.signal).catch((e: TimeoutError) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect([err.code, err.host]).toEqual(['Timeout', 'web-01']);
    expect(err.message).toMatch(/request on web-01 did not finish within 20 ms/);
  });

  it("keeps a caller's typed reason, types any other as Aborted", () => {
    const outer = new AbortController();
    const typed = new ApplyError('HealthCheckFailed', 'x', false);
    outer.abort(typed);
    expect(deadline('connect', 1000, 'h', outer.signal).signal.reason).toBe(typed);

    const plain = new AbortController();
    const dl = deadline('connect', 1000, 'h', plain.signal);
    plain.abort();
    expect(dl.signal.reason).toBeInstanceOf(TransportError);
    expect(dl.signal.reason.code).toBe('Aborted');
    dl.dispose();
  });

  it('after dispose neither the timer nor the caller aborts it', async () => {
    const outer = new AbortController();
    const dl = deadline('request', 10, 'h', outer.signal);
    dl.dispose();
    outer.abort();
    await new Promise((r) => setTimeout(r, 30));
    expect(dl.signal.aborted).toBe(false);
  });

  it('untilAborted resolves like the promise when it settles first', async () => {
    const dl = deadline('request', 1000, 'h');
    await expect(untilAborted(Promise.resolve(42), dl.signal)).resolves.toBe(42);
    await expect(untilAborted(Promise.reject(new Error('boom')), dl.signal)).rejects.toThrow('boom');
    dl.dispose();
  });
});
