import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay, backoffPolicy, createBackoff } from '../../../src/core/backoff.js';

describe('createBackoff', () => {
  it('doubles from 1 s up to the 5 min cap by default, per key', () => {
    const b = createBackoff({ random: () => 0 });
    const delays = Array.from({ length: 11 }, () => b.next('web01'));
    expect(delays).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000,
    ]);
    expect(b.next('web02')).toBe(1_000);
    expect(b.failures('web01')).toBe(11);
  });

  it('forget starts a key over without touching others', () => {
    const b = createBackoff({ random: () => 0 });
    b.next('a');
    b.next('a');
    b.next('b');
    b.forget('a');
    expect(b.failures('a')).toBe(0);
    expect(b.next('a')).toBe(1_000);
    expect(b.next('b')).toBe(2_000);
  });

  it('jitter shortens by at most the jitter fraction', () => {
    const b = createBackoff({ baseMs: 100, capMs: 1_000, jitter: 0.5, random: () => 0.999999 });
    expect(b.next('k')).toBeCloseTo(50, 3);
    expect(b.next('k')).toBeCloseTo(100, 3);
  });

  it('stays within [(1 - jitter) * ceiling, ceiling] for any sequence (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(fc.double({ min: 0, max: 0.9999999, noNaN: true }), { minLength: 1, maxLength: 80 }),
        (baseMs, extra, jitter, randoms) => {
          const capMs = baseMs + extra;
          let i = 0;
          const b = createBackoff({ baseMs, capMs, jitter, random: () => randoms[i] ?? 0 });
          for (; i < randoms.length; i++) {
            const ceiling = Math.min(capMs, baseMs * 2 ** i);
            const d = b.next('k');
            expect(d).toBeLessThanOrEqual(ceiling);
            expect(d).toBeGreaterThanOrEqual((1 - jitter) * ceiling - 1e-6);
          }
        },
      ),
    );
  });

  it.each([
    [{ baseMs: 0 }],
    [{ baseMs: 10, capMs: 5 }],
    [{ jitter: -0.1 }],
    [{ jitter: 1.5 }],
    [{ baseMs: Number.NaN }],
  ])('rejects %j', (options) => {
    expect(() => createBackoff(options)).toThrow(RangeError);
  });
});

describe('backoffDelay', () => {
  it("is what the n-th next() of createBackoff returns, for the SSH pool's own per-host count", () => {
    const policy = backoffPolicy({ baseMs: 1_000, capMs: 4_000, jitter: 0.5, random: () => 0.5 });
    expect([0, 1, 2, 3, 60, 2_000].map((n) => backoffDelay(n, policy))).toEqual([
      750, 1_500, 3_000, 3_000, 3_000, 3_000,
    ]);
    const b = createBackoff(policy);
    expect(Array.from({ length: 4 }, () => b.next('k'))).toEqual([750, 1_500, 3_000, 3_000]);
  });

  it('backoffPolicy fills in the defaults and checks them', () => {
    expect(backoffPolicy({ random: Math.random })).toEqual({
      baseMs: 1_000,
      capMs: 300_000,
      jitter: 0.2,
      random: Math.random,
    });
    expect(() => backoffPolicy({ capMs: 500 })).toThrow(RangeError);
  });
});
