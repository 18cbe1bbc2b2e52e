import type { Results, TimedRun } from './results.js';
import { type Summary, fmtMs, fmtRatio, summarize } from './stats.js';

const med = (runs: TimedRun[] | undefined): Summary | undefined =>
  runs?.length ? summarize(runs.map((r) => r.ms)) : undefined;

/** Why a warm scan of `n` hosts cannot be faster than the hosts' own work, from the on-host measurement. */
function hostWork(r: Results, n: number): string {
  const h = r.onHost;
  if (!h) return '';
  const per = h.systemctlShowMs + h.statMs;
  return (
    `Each warm probe runs \`systemctl show\` (${h.systemctlShowMs.toFixed(1)} ms) and \`stat\` ` +
    `(${h.statMs.toFixed(1)} ms) on its host: ${fmtMs(n * per)} of host CPU for ${n} hosts, at least ` +
    `${fmtMs((n * per) / r.machine.nproc)} on ${r.machine.nproc} shared cores before any client-side work ` +
    `(load average at the start: ${r.loadStart.split(' ')[0]}).`
  );
}

/** How much of a cold plan is process start-up, and the ratio the SSH part alone would reach. */
function startupShare(r: Results, cold: Summary | undefined, ans: Summary | undefined): string {
  if (!r.startup.length || !cold || !ans) return '';
  const s = summarize(r.startup.map((x) => x.ms)).median;
  return (
    `${fmtMs(s)} of the plan's ${fmtMs(cold.median)} is process start-up before the first handshake ` +
    '(Node, compiling every CRD schema, loading: `hostop validate`); the SSH part alone is ' +
    `${fmtRatio(ans.median / Math.max(1, cold.median - s))} faster than Ansible.`
  );
}

function allInSync(statuses: Record<string, number>, hosts: number): boolean {
  return (statuses['in-sync'] ?? 0) === hosts;
}

/** "met" or "missed: X (needs Y)"; a goal without data says so rather than passing. */
function verdict(ok: boolean | undefined, missed: string): string {
  if (ok === undefined) return 'not measured';
  return ok ? 'met' : `**missed**: ${missed}`;
}

/**
 * The goals of issue 7 as rows (goal, measured, verdict), each computed from the medians of this run. They are
 * goals to report against, not assertions: a miss is printed with its size so the reader can judge it.
 */
export function goalRows(r: Results): string[][] {
  const at = (n: number) => r.scans.find((s) => s.hosts === n);
  const s50 = at(50);
  const warm = s50?.warm?.warm.length ? summarize(s50.warm.warm.map((p) => p.ms)) : undefined;
  const cold = med(s50?.cold);
  const ans = med(s50?.ansibleCheck);
  const floorNew = r.floor?.newConnection.length ? summarize(r.floor.newConnection) : undefined;
  const floorMux = r.floor?.controlMaster.length ? summarize(r.floor.controlMaster) : undefined;
  const rows: string[][] = [];

  rows.push([
    'warm no-drift scan of 50 hosts < 0.5 s',
    warm ? fmtMs(warm.median) : 'n/a',
    verdict(warm && warm.median < 500, `${fmtMs(warm ? warm.median - 500 : 0)} over. ${hostWork(r, 50)}`),
  ]);
  const wr = warm && ans ? ans.median / warm.median : undefined;
  rows.push([
    'warm scan ≥ 100× faster than `ansible-playbook --check` (50 hosts)',
    fmtRatio(wr),
    verdict(
      wr === undefined ? undefined : wr >= 100,
      `${fmtRatio(wr)} is ${fmtRatio(100 / (wr ?? 1))} short of 100×`,
    ),
  ]);
  const cr = cold && ans ? ans.median / cold.median : undefined;
  rows.push([
    'cold `hostop plan` ≥ 20× faster than `ansible-playbook --check` (50 hosts)',
    fmtRatio(cr),
    verdict(
      cr === undefined ? undefined : cr >= 20,
      `${fmtRatio(cr)} is ${fmtRatio(20 / (cr ?? 1))} short of 20×. ${startupShare(r, cold, ans)}`,
    ),
  ]);
  const fc = cold && floorNew ? cold.median / floorNew.median : undefined;
  rows.push([
    'cold `hostop plan` within 3× of 50 parallel `ssh` round trips (new connection each)',
    fc === undefined
      ? 'n/a'
      : `${fmtRatio(fc)} the floor (${fmtMs(cold!.median)} vs ${fmtMs(floorNew!.median)})`,
    verdict(fc === undefined ? undefined : fc <= 3, `${fmtRatio(fc)} the floor`),
  ]);
  const fw = warm && floorMux ? warm.median / floorMux.median : undefined;
  rows.push([
    'warm scan within 3× of 50 parallel `ssh` round trips over ControlMaster',
    fw === undefined
      ? 'n/a'
      : `${fmtRatio(fw)} the floor (${fmtMs(warm!.median)} vs ${fmtMs(floorMux!.median)})`,
    verdict(fw === undefined ? undefined : fw <= 3, `${fmtRatio(fw)} the floor`),
  ]);
  // Only passes where every host was in sync are no-drift scans: a host another suite disturbed meanwhile
  // (drifted, reconnected) is excluded from this goal and shown in the cost table and the notes instead.
  const all = r.scans.flatMap((s) => s.warm?.warm ?? []);
  const clean = r.scans.flatMap((s) => (s.warm?.warm ?? []).filter((p) => allInSync(p.statuses, s.hosts)));
  const maxTrips = clean.length ? Math.max(...clean.map((p) => p.requests[1])) : undefined;
  const maxChannels = clean.length ? Math.max(...clean.map((p) => p.channels[1])) : undefined;
  rows.push([
    '≤ 1 SSH round trip per host per no-drift scan (warm)',
    maxTrips === undefined
      ? 'n/a'
      : `at most ${maxTrips} round trip(s) and ${maxChannels} new channel(s) per host, over ${clean.length} ` +
        `of ${all.length} warm passes (those with every host in sync)`,
    verdict(
      maxTrips === undefined ? undefined : maxTrips <= 1 && maxChannels === 0,
      `up to ${maxTrips} round trip(s) and ${maxChannels} new channel(s) per host`,
    ),
  ]);
  const c = r.daemons.find((d) => d.commitToConverged)?.commitToConverged;
  const seen = c?.fileSeenMs.length ? summarize(c.fileSeenMs) : undefined;
  const conv = c?.convergedMs.length ? summarize(c.convergedMs) : undefined;
  rows.push([
    'commit-to-converged p50 < 1 s for a file change',
    seen && conv
      ? `${fmtMs(seen.median)} to the new file on the host; ${fmtMs(conv.median)} to the daemon's verified "converged"`
      : 'n/a',
    verdict(
      seen && seen.median < 1000,
      `${fmtMs(seen ? seen.median - 1000 : 0)} over; the reload of the desired state took ` +
        `${c?.loadedMs.length ? fmtMs(summarize(c.loadedMs).median) : 'n/a'} of it, the host's pass ` +
        `${c?.passMs.length ? fmtMs(summarize(c.passMs).median) : 'n/a'}`,
    ),
  ]);
  const d100 = r.daemons.find((d) => d.hosts === 100);
  rows.push([
    'daemon idle CPU < 1 % of a core (100 hosts)',
    d100 ? `${d100.idle.cpuPercent.toFixed(2)} %` : 'n/a',
    verdict(
      d100 && d100.idle.cpuPercent < 1,
      `${d100?.idle.cpuPercent.toFixed(2)} %. The idle daemon's main thread woke ` +
        `${d100?.idle.wakeupsPerSecond.toFixed(0)} times a second, where SSH keepalives to ${d100?.hosts} hosts ` +
        `every 15 s need about ${((d100?.hosts ?? 0) / 15).toFixed(0)}: when this was written, prom-client's ` +
        'default event-loop-lag monitor (10 ms resolution, `collectDefaultMetrics` in src/observe/metrics.ts) ' +
        'woke it every 10 ms',
    ),
  ]);
  const peak = d100 ? Math.max(d100.hwmKb, d100.idle.rssKb) / 1024 : undefined;
  rows.push([
    'daemon RSS < 150 MB at 100 hosts (high-water mark)',
    peak === undefined ? 'n/a' : `${peak.toFixed(0)} MB`,
    verdict(
      peak === undefined ? undefined : peak < 150,
      `${(peak ?? 0) - 150 > 0 ? ((peak ?? 0) - 150).toFixed(0) : 0} MB over`,
    ),
  ]);
  return rows;
}
