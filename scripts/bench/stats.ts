/** Summaries of repeated measurements: every table cell is a median with its min and max (and n). */
export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  p95: number;
}

/** Nearest-rank percentile of a non-empty sample (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Median (mean of the middle two for even n), min, max, p95. Throws on an empty sample: a cell without data is a bug. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new Error('summarize: no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { n: s.length, median, min: s[0]!, max: s[s.length - 1]!, p95: percentile(s, 95) };
}

/** Milliseconds as a short human figure: 12 ms, 1.23 s, 2 min 03 s. */
export function fmtMs(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

/** "median (min–max, n=5)" for a time sample; a single run prints just the value and n=1. */
export function fmtSummary(s: Summary | undefined): string {
  if (!s) return 'n/a';
  if (s.n === 1) return `${fmtMs(s.median)} (n=1)`;
  return `${fmtMs(s.median)} (${fmtMs(s.min)}–${fmtMs(s.max)}, n=${s.n})`;
}

/** A ratio as "123×" (or "0.8×"). */
export function fmtRatio(r: number | undefined): string {
  if (r === undefined || !Number.isFinite(r)) return 'n/a';
  return r >= 10 ? `${Math.round(r)}×` : `${r.toFixed(1)}×`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
