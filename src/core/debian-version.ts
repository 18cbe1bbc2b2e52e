/**
 * Debian version order, as dpkg has it: `dpkg_version_compare`, `verrevcmp` and `order()` in dpkg's
 * lib/dpkg/version.c, the splitting of `parseversion` in lib/dpkg/parsehelp.c, and deb-version(7):
 *   [epoch:]upstream-version[-debian-revision]
 * The epoch (before the first `:`, 0 when absent) is compared numerically; then the upstream version and then
 * the revision (after the last `-`, empty when absent) are compared with `verrevcmp`. Checked against the real
 * `dpkg --compare-versions` in test/unit/core/debian-version.test.ts.
 */

/**
 * -1, 0 or 1 as `a` sorts before, equal to or after `b` in dpkg's order (`1.0~rc1` < `1.0` < `1.0-1` <
 * `1.0-1+b1`, `1:0.1` > `2.0`, `1.0` = `1.0-0` = `0:1.0`). For versions dpkg accepts (ASCII, upstream part
 * starting with a digit); any other string still gets an order and never throws.
 */
export function compareDebianVersions(a: string, b: string): number {
  const x = split(a);
  const y = split(b);
  return Math.sign(
    compareDigitRuns(x.epoch, y.epoch) ||
      verrevcmp(x.upstream, y.upstream) ||
      verrevcmp(x.revision, y.revision),
  );
}

interface DebianVersion {
  /** The epoch's digits ("" for none: compares as 0). */
  epoch: string;
  upstream: string;
  revision: string;
}

/** parseversion: surrounding blanks dropped, epoch up to the first `:`, revision after the last `-`. */
function split(text: string): DebianVersion {
  const v = text.trim();
  const colon = v.indexOf(':');
  const epoch = colon >= 0 ? v.slice(0, colon) : '';
  const rest = colon >= 0 ? v.slice(colon + 1) : v;
  const hyphen = rest.lastIndexOf('-');
  return hyphen >= 0
    ? { epoch, upstream: rest.slice(0, hyphen), revision: rest.slice(hyphen + 1) }
    : { epoch, upstream: rest, revision: '' };
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isLetter = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

/**
 * dpkg's order(): the weight of one character of a non-digit part. `~` sorts before everything, even the end
 * of the part; the end (and a digit, where the part stops) weighs 0; letters sort before every other character.
 */
function order(c: string | undefined): number {
  if (c === undefined || isDigit(c)) return 0;
  if (isLetter(c)) return c.charCodeAt(0);
  if (c === '~') return -1;
  return c.charCodeAt(0) + 256;
}

/**
 * dpkg's verrevcmp: alternately the leading non-digit parts, character by character by order(), and the leading
 * digit parts, numerically (leading zeros skipped; the longer run wins, else the first differing digit; an
 * empty run counts as zero). Negative, zero or positive.
 */
function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const diff = order(a[i]) - order(b[j]);
      if (diff !== 0) return diff;
      i++;
      j++;
    }
    const runA = digitRun(a, i);
    const runB = digitRun(b, j);
    const diff = compareDigitRuns(runA, runB);
    if (diff !== 0) return diff;
    i += runA.length;
    j += runB.length;
  }
  return 0;
}

function digitRun(s: string, from: number): string {
  let end = from;
  while (isDigit(s[end])) end++;
  return s.slice(from, end);
}

/** Two runs of digits as numbers of any length: leading zeros skipped, more digits is larger, else the first difference. */
function compareDigitRuns(a: string, b: string): number {
  const x = a.replace(/^0+/, '');
  const y = b.replace(/^0+/, '');
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}
