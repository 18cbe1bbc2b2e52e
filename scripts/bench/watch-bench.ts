import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonProcess, type LogRecord } from './daemon-process.js';
import { BENCH_DIR } from './fleet-intent.js';
import { type LabHost, sshRun } from './lab-hosts.js';
import { cpuSeconds, mainThreadSwitches, memoryKb } from './proc-sample.js';
import { type Summary, fmtMs, fmtSummary, sleep, summarize } from './stats.js';

/**
 * Issue 14's numbers: how fast a hand change on a host is seen and put back with host watches, against the
 * resync alone in the same run; what the watches cost the daemon when idle and what one costs a host.
 */
export interface WatchBench {
  hosts: number;
  /** Hand edit → the verifying probe of the pass that put it back (enforce), ms. */
  restored: number[];
  /** Hand edit → the pass that reported it drifted (detect mode: hostop_resource_drifted = 1), ms. */
  detected: number[];
  /** `systemctl stop` of a managed unit → the pass that started it again, ms. */
  unitRestarted: number[];
  /** The same edits with `--watch off`: found by the resync alone. */
  baseline: { resyncMs: number; restored: number[] };
  /** Idle daemon on `idleHosts` hosts, per watch setting. */
  idle: { hosts: number; seconds: number; runs: IdleRun[] };
}

export interface IdleRun {
  watch: 'auto' | 'poll' | 'off';
  mechanisms: Record<string, number>;
  cpuPercent: number;
  wakeupsPerSecond: number;
  rssKb: number;
  /** One host: CPU of the watch's process group (and the sshd session serving it) over the idle window, % of a core. */
  host?: { name: string; watchPercent: number; sshdPercent: number };
}

export interface WatchBenchOptions {
  repo: string;
  /** Desired state of `hosts` (the bench fleet: app.yaml notifies billing-api.service, kept running). */
  dir: string;
  hosts: LabHost[];
  /** A bigger fleet for the idle measurement. */
  idleDir: string;
  idleHosts: LabHost[];
  edits: number;
  baselineEdits: number;
  baselineResyncS: number;
  idleSeconds: number;
  concurrency: number;
  log(msg: string): void;
}

const APP = `${BENCH_DIR}/app.yaml`;
const NO_RESYNC = ['--resync', '1h', '--fallback-resync', '1h'];

export async function measureWatches(o: WatchBenchOptions): Promise<WatchBench> {
  const out: WatchBench = {
    hosts: o.hosts.length,
    restored: [],
    detected: [],
    unitRestarted: [],
    baseline: { resyncMs: o.baselineResyncS * 1000, restored: [] },
    idle: { hosts: o.idleHosts.length, seconds: o.idleSeconds, runs: [] },
  };
  await withDaemon(o, o.dir, o.hosts, [...NO_RESYNC], async (d) => {
    for (let i = 0; i < o.edits; i++) {
      out.restored.push(await change(o, d, o.hosts[(i * 7) % o.hosts.length]!, edit, 'pass converged'));
    }
    o.log(`watch: edit → restored ${fmtSummary(summarize(out.restored))}`);
    for (let i = 0; i < Math.max(3, o.edits / 4); i++) {
      const stop = 'systemctl stop billing-api.service';
      out.unitRestarted.push(
        await change(o, d, o.hosts[(i * 13 + 3) % o.hosts.length]!, stop, 'pass converged'),
      );
    }
    o.log(`watch: stop → restarted ${fmtSummary(summarize(out.unitRestarted))}`);
  });
  // Detect mode leaves each edit in place: put each back by hand (it is then in sync again) before the next.
  await withDaemon(o, o.dir, o.hosts, [...NO_RESYNC, '--mode', 'detect'], async (d) => {
    for (let i = 0; i < o.edits; i++) {
      const h = o.hosts[(i * 7 + 1) % o.hosts.length]!;
      out.detected.push(await change(o, d, h, edit, 'pass drifted'));
      await change(o, d, h, unedit, 'pass in-sync');
    }
    o.log(`watch: edit → detected ${fmtSummary(summarize(out.detected))}`);
  });
  const baseline = ['--watch', 'off', '--resync', `${o.baselineResyncS}s`];
  await withDaemon(o, o.dir, o.hosts, baseline, async (d) => {
    for (let i = 0; i < o.baselineEdits; i++) {
      const h = o.hosts[(i * 7 + 2) % o.hosts.length]!;
      out.baseline.restored.push(await change(o, d, h, edit, 'pass converged', o.baselineResyncS * 3000));
    }
    o.log(`resync ${o.baselineResyncS}s: edit → restored ${fmtSummary(summarize(out.baseline.restored))}`);
  });
  for (const watch of ['auto', 'poll', 'off'] as const) {
    const args = watch === 'off' ? ['--watch', 'off', '--resync', '1h'] : [...NO_RESYNC, '--watch', watch];
    await withDaemon(o, o.idleDir, o.idleHosts, args, async (d, mechanisms) => {
      out.idle.runs.push(await idle(o, d, watch, mechanisms));
      const r = out.idle.runs.at(-1)!;
      o.log(
        `idle, watch ${watch}: ${r.cpuPercent.toFixed(2)} % CPU, ${r.wakeupsPerSecond.toFixed(1)} wake-ups/s, RSS ${Math.round(r.rssKb / 1024)} MB${r.host ? `; host ${r.host.name}: watch ${r.host.watchPercent.toFixed(3)} %, sshd ${r.host.sshdPercent.toFixed(3)} %` : ''}`,
      );
    });
  }
  return out;
}

/** A changed value (hostop compares YAML by value): the host's clock stamps the moment it was written. */
const edit = `echo 'tampered: true' >> ${APP}`;
const unedit = `sed -i '/^tampered: true$/d' ${APP}`;

/** Makes `command` happen on `host` and returns the time from then to the daemon's log line `msg` for it. */
async function change(
  o: WatchBenchOptions,
  d: DaemonProcess,
  host: LabHost,
  command: string,
  msg: string,
  timeoutMs = 30_000,
): Promise<number> {
  const from = d.logs.length;
  // Lab hosts share this machine's clock: the stamp is taken on the host right after the change.
  const at = Number((await sshRun(o.repo, host.name, `${command} && date +%s%3N`)).trim());
  const rec = await d.waitFor(
    (r) => r.host === host.name && r.msg === msg,
    timeoutMs,
    `${msg} on ${host.name}`,
    from,
  );
  return rec.time - at;
}

async function withDaemon(
  o: WatchBenchOptions,
  dir: string,
  hosts: LabHost[],
  args: string[],
  fn: (d: DaemonProcess, mechanisms: Record<string, number>) => Promise<void>,
): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), 'hostop-bench-state-'));
  const d = await DaemonProcess.start(o.repo, dir, [
    ...args,
    ...[
      '--log-level',
      'debug',
      '--no-prune',
      '--state-dir',
      stateDir,
      '--concurrency',
      String(o.concurrency),
    ],
  ]);
  try {
    await d.waitPasses(
      hosts.map((h) => h.name),
      0,
      300_000,
    );
    const mechanisms = args.includes('off') ? { none: hosts.length } : await watchesReady(d, hosts.length);
    await fn(d, mechanisms);
  } finally {
    await d.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** Waits until no host's watch is starting; returns how many use each mechanism. */
async function watchesReady(d: DaemonProcess, count: number): Promise<Record<string, number>> {
  const url = `http://${(d.logs.find((r) => r.msg === 'hostop running') as LogRecord).listen as string}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const s = (await (await fetch(`${url}/status`)).json()) as { hosts: { watch?: { state: string } }[] };
    const counts: Record<string, number> = {};
    for (const h of s.hosts) counts[h.watch?.state ?? 'none'] = (counts[h.watch?.state ?? 'none'] ?? 0) + 1;
    if (s.hosts.length === count && !counts.starting && (counts.inotify ?? 0) + (counts.poll ?? 0) === count)
      return counts;
    if (Date.now() > deadline) throw new Error(`watches not ready: ${JSON.stringify(counts)}`);
    await sleep(200);
  }
}

async function idle(
  o: WatchBenchOptions,
  d: DaemonProcess,
  watch: IdleRun['watch'],
  mechanisms: Record<string, number>,
): Promise<IdleRun> {
  await sleep(2000);
  const probeHost = o.idleHosts[0]!;
  const host0 = watch === 'off' ? undefined : await hostTicks(o, probeHost);
  const cpu0 = cpuSeconds(d.pid);
  const sw0 = mainThreadSwitches(d.pid);
  const t0 = Date.now();
  await sleep(o.idleSeconds * 1000);
  const seconds = (Date.now() - t0) / 1000;
  const host1 = watch === 'off' ? undefined : await hostTicks(o, probeHost);
  const run: IdleRun = {
    watch,
    mechanisms,
    cpuPercent: ((cpuSeconds(d.pid) - cpu0) / seconds) * 100,
    wakeupsPerSecond: (mainThreadSwitches(d.pid) - sw0) / seconds,
    rssKb: memoryKb(d.pid).rss,
  };
  if (host0 && host1)
    run.host = {
      name: probeHost.name,
      watchPercent: ((host1.watch - host0.watch) / 100 / seconds) * 100,
      sshdPercent: ((host1.sshd - host0.sshd) / 100 / seconds) * 100,
    };
  return run;
}

/**
 * CPU ticks so far of the watch on `host`: every process of its process group with what they reaped
 * (utime + stime + cutime + cstime, so the lease's short-lived `sleep`s count), and the sshd session process
 * that is the group's parent (it also carries the daemon's heartbeats).
 */
async function hostTicks(o: WatchBenchOptions, host: LabHost): Promise<{ watch: number; sshd: number }> {
  const script = `pg=$(ps -eo pgid=,args= | awk '/[i]nvocation:|[h]ostop-bench\\/app.yaml/ && /trap/ { print $1; exit }')
[ -n "$pg" ] || { echo 'no watch'; exit 1; }
t() { awk '{ s = $0; sub(/^.*\\) /, "", s); split(s, f, " "); print f[12] + f[13] + f[14] + f[15] }' "/proc/$1/stat"; }
w=0; for p in $(ps -eo pid=,pgid= | awk -v g="$pg" '$2 == g { print $1 }'); do w=$((w + $(t "$p" 2>/dev/null || echo 0))); done
s=$(t "$(ps -o ppid= -p "$pg" | tr -d ' ')")
echo "$w $s"`;
  // A loaded machine (a hundred hosts just started) can make one ssh slow: allow it two minutes.
  const [w, s] = (await sshRun(o.repo, host.name, script, 120_000)).trim().split(' ').map(Number);
  return { watch: w!, sshd: s! };
}

/** The Markdown section of BENCHMARKS.md for this run. */
export function renderWatchBench(b: WatchBench, when: string): string {
  const s = (v: number[]) => (v.length ? summarize(v) : undefined);
  const p = (x: Summary | undefined) => (x ? `${fmtMs(x.median)} / ${fmtMs(x.p95)}` : 'n/a');
  const restored = s(b.restored);
  const base = s(b.baseline.restored);
  const ratio = restored && base ? `${(base.median / restored.median).toFixed(0)}×` : 'n/a';
  const rows = [
    `| hand edit → \`hostop_resource_drifted\` = 1 (detect mode) | ${p(s(b.detected))} | n=${b.detected.length} |`,
    `| hand edit → file restored (enforce) | ${p(restored)} | n=${b.restored.length} |`,
    `| \`systemctl stop\` of a managed unit → running again | ${p(s(b.unitRestarted))} | n=${b.unitRestarted.length} |`,
    `| hand edit → restored, \`--watch off --resync ${b.baseline.resyncMs / 1000}s\` (baseline) | ${p(base)} | n=${b.baseline.restored.length} |`,
  ];
  const idleRows = b.idle.runs.map(
    (r) =>
      `| ${r.watch} | ${Object.entries(r.mechanisms)
        .map(([k, n]) => `${k} ${n}`)
        .join(
          ', ',
        )} | ${r.cpuPercent.toFixed(2)} % | ${r.wakeupsPerSecond.toFixed(1)} | ${Math.round(r.rssKb / 1024)} MB | ${
        r.host ? `${r.host.watchPercent.toFixed(3)} % (+ sshd ${r.host.sshdPercent.toFixed(3)} %)` : '–'
      } |`,
  );
  const auto = b.idle.runs.find((r) => r.watch === 'auto');
  const verdict = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'met' : '**missed**');
  const detected = s(b.detected);
  const goals = [
    `- hand edit → detected p95 < 1 s: ${verdict(detected && detected.p95 < 1000)} (${detected ? fmtMs(detected.p95) : 'n/a'})`,
    `- hand edit → restored p95 < 2 s: ${verdict(restored && restored.p95 < 2000)} (${restored ? fmtMs(restored.p95) : 'n/a'})`,
    `- idle daemon with watches on ${b.idle.hosts} hosts < 1 % of a core and RSS < 150 MB: ${verdict(auto && auto.cpuPercent < 1 && auto.rssKb < 150 * 1024)} (${auto ? `${auto.cpuPercent.toFixed(2)} %, ${Math.round(auto.rssKb / 1024)} MB` : 'n/a'})`,
    `- an idle watch on a host < 0.1 % of a core: ${verdict(auto?.host && auto.host.watchPercent + auto.host.sshdPercent < 0.1)} with inotify (${auto?.host ? `${(auto.host.watchPercent + auto.host.sshdPercent).toFixed(3)} %` : 'n/a'}); the poll fallback costs more, see its row`,
  ];
  return [
    `### Host watches (issue 14), ${when}`,
    '',
    `${b.hosts} hosts, one host changed at a time; times from the change on the host (its clock is this machine's) to the daemon's log line of the pass that saw it (median / p95). With watches the restore is **${ratio}** faster than a ${b.baseline.resyncMs / 1000} s resync (the default resync without watches is 60 s).`,
    '',
    '| | median / p95 | runs |',
    '|---|---|---|',
    ...rows,
    '',
    `Idle for ${b.idle.seconds} s with ${b.idle.hosts} hosts (the daemon, and one host's watch: its process group with what it reaped, and the sshd session that carries it):`,
    '',
    '| `--watch` | mechanisms | daemon CPU (% of a core) | wake-ups/s | RSS | host: watch CPU (% of a core) |',
    '|---|---|---|---|---|---|',
    ...idleRows,
    '',
    'Goals of issue 14:',
    '',
    ...goals,
  ].join('\n');
}
