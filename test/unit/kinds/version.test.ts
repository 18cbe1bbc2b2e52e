import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { atLeast, parseVersion } from '../../../src/kinds/version.js';

describe('parseVersion', () => {
  it.each([
    ['0.143.0', [0, 143, 0]],
    ['2.8.2', [2, 8, 2]],
    ['3.0', [3, 0, 0]],
    ['1.2.3-rc.1', [1, 2, 3]],
    ['010.02.3', [10, 2, 3]], // leading zeros: the CRD pattern allows them
  ])('%s is %j', (text, want) => expect(parseVersion(text)).toEqual(want));
});

describe('atLeast', () => {
  it.each([
    ['0.144.0', [0, 144, 0], true],
    ['0.143.9', [0, 144, 0], false],
    ['0.1000.0', [0, 144, 0], true],
    ['1.0.0', [0, 144, 0], true],
    ['0.85.0', [0, 86, 0], false],
    ['0.086.0', [0, 86, 0], true],
    // The pre-release suffix is not part of the CRD pattern; if one comes, it counts as its release.
    ['0.125.0-rc.1', [0, 125, 0], true],
  ] as const)('%s >= %j is %s', (text, min, want) => expect(atLeast(text, min)).toBe(want));

  it('orders MAJOR.MINOR.PATCH numerically, field by field, leading zeros or not (property)', () => {
    const part = fc.integer({ min: 0, max: 1_000_000 });
    const version = fc.tuple(part, part, part);
    fc.assert(
      fc.property(version, version, fc.nat(8), (v, min, pad) => {
        const text = v.map((n) => String(n).padStart(pad, '0')).join('.');
        const i = v.findIndex((n, j) => n !== min[j]);
        expect(atLeast(text, min)).toBe(i === -1 || v[i]! > min[i]!);
        expect(parseVersion(text)).toEqual(v);
      }),
    );
  });
});
