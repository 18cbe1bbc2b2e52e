/** Benchmark knobs, from the environment so `npm run bench` needs no flags; defaults fit in ~20 minutes. */
export interface BenchConfig {
  /** Fleet sizes of the side-by-side no-drift scan (hostop cold, warm, Ansible). */
  scanSizes: number[];
  /** Extra sizes for the scaling table (hostop only). */
  scaleSizes: number[];
  /** hostop --max-parallel / --concurrency and Ansible forks. */
  concurrency: number;
  coldRuns: number;
  warmRuns: number;
  /** Ansible --check runs per scan size (it is slow: fewer runs where it takes minutes). */
  ansibleCheckRuns: Record<number, number>;
  driftHosts: number;
  driftRuns: number;
  ansibleDriftRuns: number;
  edits: number;
  daemonWarmPasses: number;
  idleSeconds: number;
  floorHosts: number;
  floorRuns: number;
  ansible: boolean;
  /** Host watches (issue 14, BENCH_ONLY=watch): hosts edited one at a time, and the fleet of the idle run. */
  watchHosts: number;
  watchIdleHosts: number;
  watchEdits: number;
  watchBaselineEdits: number;
  watchBaselineResyncS: number;
  watchIdleSeconds: number;
}

function num(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`${name}: expected a whole number, got ${JSON.stringify(v)}`);
  return n;
}

function list(name: string, dflt: number[]): number[] {
  const v = process.env[name];
  if (v === undefined) return dflt;
  if (v.trim() === '') return [];
  return v.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: ${JSON.stringify(s)} is not a host count`);
    return n;
  });
}

export function readConfig(): BenchConfig {
  const scanSizes = list('BENCH_SIZES', [10, 50, 100]);
  const checkRuns = list('BENCH_ANSIBLE_CHECK_RUNS', [3, 2, 1]);
  return {
    scanSizes,
    scaleSizes: list('BENCH_SCALE_SIZES', [150]),
    concurrency: num('BENCH_CONCURRENCY', 32),
    coldRuns: num('BENCH_COLD_RUNS', 5),
    warmRuns: num('BENCH_WARM_RUNS', 10),
    ansibleCheckRuns: Object.fromEntries(scanSizes.map((n, i) => [n, checkRuns[i] ?? 1])),
    driftHosts: num('BENCH_DRIFT_HOSTS', 50),
    driftRuns: num('BENCH_DRIFT_RUNS', 5),
    ansibleDriftRuns: num('BENCH_ANSIBLE_DRIFT_RUNS', 2),
    edits: num('BENCH_EDITS', 20),
    daemonWarmPasses: num('BENCH_DAEMON_PASSES', 3),
    idleSeconds: num('BENCH_IDLE_SECONDS', 15),
    floorHosts: num('BENCH_FLOOR_HOSTS', 50),
    floorRuns: num('BENCH_FLOOR_RUNS', 5),
    ansible: process.env.BENCH_NO_ANSIBLE !== '1',
    watchHosts: num('BENCH_WATCH_HOSTS', 50),
    watchIdleHosts: num('BENCH_WATCH_IDLE_HOSTS', 100),
    watchEdits: num('BENCH_WATCH_EDITS', 20),
    watchBaselineEdits: num('BENCH_WATCH_BASELINE_EDITS', 6),
    watchBaselineResyncS: num('BENCH_WATCH_BASELINE_RESYNC', 10),
    watchIdleSeconds: num('BENCH_WATCH_IDLE_SECONDS', 30),
  };
}

/** Every host count the run needs, ascending. */
export function allSizes(c: BenchConfig): number[] {
  return [...new Set([...c.scanSizes, ...c.scaleSizes, c.driftHosts, c.floorHosts])].sort((a, b) => a - b);
}
