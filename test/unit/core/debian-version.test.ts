import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareDebianVersions } from '../../../src/core/debian-version.js';

/**
 * The order of each pair as the real dpkg has it (`dpkg --compare-versions A lt|eq B`, exit 0 when the relation
 * holds): the function is checked against the program it imitates, not only against our reading of
 * deb-version(7). One fixed script for all pairs (the versions travel as its arguments): dpkg starts in ~20 ms.
 */
function dpkgOrders(pairs: [string, string][]): number[] {
  const script =
    'while [ $# -gt 0 ]; do if dpkg --compare-versions "$1" lt "$2"; then echo -1; ' +
    'elif dpkg --compare-versions "$1" eq "$2"; then echo 0; else echo 1; fi; shift 2; done';
  const run = spawnSync('sh', ['-c', script, 'sh', ...pairs.flat()], { encoding: 'utf8' });
  if (run.error) throw run.error;
  expect(run.status, run.stderr).toBe(0);
  return run.stdout.trim().split('\n').map(Number);
}

// [a, b, expected order of a against b]: deb-version(7)'s rules one by one.
const CLASSIC: [string, string, number][] = [
  ['1.0~rc1', '1.0', -1], // a tilde sorts before the end of the part
  ['1.0', '1.0-1', -1], // no revision sorts before a revision
  ['1:0.1', '2.0', 1], // the epoch decides first
  ['1.0a', '1.0+', -1], // letters before non-letters
  ['1.2.10', '1.2.9', 1], // digit parts numerically
  ['0.123.0', '0.144.0', -1],
  ['~~', '~', -1], // bare parts, as deb-version(7) lists them: ~~ < ~~a < ~ < (empty) < a
  ['~~a', '~', -1],
  ['~', '', -1],
  ['', 'a', -1],
  ['1.0~~', '1.0~~a', -1], // the same inside versions dpkg accepts
  ['1.0~~a', '1.0~', -1],
  ['1.0~', '1.0', -1],
  ['1.0', '1.0a', -1],
  ['1.0-1', '1.0-1+b1', -1],
  ['0.123.0', '0.123.0', 0],
  ['1:2.3-4', '1:2.3-4', 0],
  ['1.0', '1.0-0', 0], // an absent revision compares as an empty one, and "0" as empty
  ['0:1.0', '1.0', 0], // epoch 0 is no epoch
  ['1.002', '1.2', 0], // leading zeros of a digit part
  ['2.8.2', '1:2.8.1', -1],
  ['1.0~rc1~git1', '1.0~rc1', -1],
  ['1.0+dfsg-1', '1.0-1', 1],
  ['8.2.36-1~deb12u1', '8.2.36-1', -1],
  ['10:1.0', '9:2.0', 1], // epochs numerically, not as text
  ['1.0.', '1.0', 1],
  ['1.0A', '1.0a', -1], // letters by ASCII
  ['123456789012345678901234567890', '123456789012345678901234567891', -1], // digit runs of any length
];

describe('compareDebianVersions', () => {
  it.each(CLASSIC)('%j vs %j is %i', (a, b, want) => {
    expect(compareDebianVersions(a, b)).toBe(want);
    expect(compareDebianVersions(b, a)).toBe(want === 0 ? 0 : -want);
  });

  it('agrees with dpkg --compare-versions on every case that is a version dpkg accepts', () => {
    // dpkg compares a version that does not start with a digit only with a bad-syntax warning: bare parts stay out.
    const pairs = CLASSIC.filter(([a, b]) => /^\d/.test(a) && /^\d/.test(b)).map(
      ([a, b]) => [a, b] as [string, string],
    );
    expect(pairs.map(([a, b]) => compareDebianVersions(a, b))).toEqual(dpkgOrders(pairs));
  });

  it('sorts a list as dpkg does', () => {
    const sorted = ['1.0~~', '1.0~~a', '1.0~', '1.0', '1.0-1', '1.0-1+b1', '1.0a', '1.0+', '1.1', '1:0.1'];
    expect([...sorted].reverse().sort(compareDebianVersions)).toEqual(sorted);
  });

  it('agrees with dpkg --compare-versions on generated versions', () => {
    // What dpkg accepts: an optional epoch, an upstream part starting with a digit, an optional revision; from
    // a small alphabet so the interesting characters (~ + . - letters, leading zeros) meet often.
    const part = (chars: string[], minLength: number) =>
      fc.array(fc.constantFrom(...chars), { minLength, maxLength: 6 }).map((cs) => cs.join(''));
    const upstream = fc
      .tuple(fc.constantFrom('0', '1', '2', '9'), part(['0', '1', '9', '.', '~', '+', 'a', 'Z'], 0))
      .map(([first, rest]) => first + rest);
    const version = fc
      .tuple(
        fc.option(fc.constantFrom('0', '1', '2', '10'), { nil: undefined }),
        upstream,
        fc.option(part(['0', '1', '.', '~', '+', 'b', 'u'], 1), { nil: undefined }),
      )
      .map(
        ([epoch, up, rev]) =>
          `${epoch === undefined ? '' : `${epoch}:`}${up}${rev === undefined ? '' : `-${rev}`}`,
      );
    // Unrelated pairs, and pairs one small edit apart (where ties and the tilde/end rules are decided).
    const near = version.chain((v) =>
      fc.tuple(
        fc.constant(v),
        fc.constantFrom(v, `${v}~`, `${v}a`, `${v}.0`, `${v}0`, v.includes(':') ? v : `0:${v}`, `${v}-0`),
      ),
    );
    // A fixed seed: the same pairs on every run, so a disagreement is reproducible.
    const pairs = fc.sample(fc.oneof(fc.tuple(version, version), near), { numRuns: 200, seed: 15 });
    const dpkg = dpkgOrders(pairs);
    const disagreements = pairs.filter(([a, b], i) => compareDebianVersions(a, b) !== dpkg[i]);
    expect(disagreements).toEqual([]);
    // 400 dpkg runs: seconds alone, a minute or more on a loaded 2-core machine.
  }, 180_000);
});
