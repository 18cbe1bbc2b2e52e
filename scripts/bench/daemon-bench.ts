import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostRef } from '../../src/core/model.js';
import { ConnectionPool } from '../../src/ssh/connection-pool.js';
import { DaemonProcess, type LogRecord } from './daemon-process.js';
import { HOST_CONF, hostConf, writeHostConf } from './fleet-intent.js';
import type { LabHost } from './lab-hosts.js';
import { cpuSeconds, mainThreadSwitches, memoryKb, rssSampler } from './proc-sample.js';
import { sleep } from './stats.js';

export interface DaemonPass {
  /** From the trigger (spawn or SIGHUP) to the last host's finished pass, by the daemon's own log clock. */
  ms: number;
  cpuSeconds: number;
  peakRssKb: number;
  statuses: Record<string, number>;
}

export interface DaemonRun {
  hosts: number;
  /** Process start to every host probed once (node start-up, load, connect all, first probe). */
  start: DaemonPass;
  /** Resyncs (SIGHUP: reload + enqueue every host) on the warm pool. */
  warm: DaemonPass[];
  /** Idle after the resyncs: CPU, RSS, and how often the main thread woke up (per second). */
  idle: { seconds: number; cpuPercent: number; rssKb: number; wakeupsPerSecond: number };
  hwmKb: number;
  commitToConverged?: CommitToConverged;
}

export interface CommitToConverged {
  /** Edit written -> the new bytes observed in the file on the host (polled over a kept connection). */
  fileSeenMs: number[];
  /** Edit written -> the daemon logs the host converged (applied, reloaded, re-probed). */
  convergedMs: number[];
  /** Edit written -> the daemon logged the new desired state loaded (watch + debounce + load + render). */
  loadedMs: number[];
  /** The host's pass itself (probe, stage, activate + reload, verify), as the daemon reports it. */
  passMs: number[];
  statuses: Record<string, number>;
}

export interface DaemonOptions {
  repo: string;
  dir: string;
  hosts: LabHost[];
  refs: HostRef[];
  concurrency: number;
  warmPasses: number;
  idleSeconds: number;
  /** Edits for the commit-to-converged measurement (0: none). */
  edits: number;
}

/**
 * Runs `hostop run` on the benchmark's desired state with `--resync 1h` (so only our triggers cause work) and
 * measures its first pass, warm resyncs, idle cost and, when asked, commit-to-converged. The daemon and its
 * state dir are always removed.
 */
export async function measureDaemon(o: DaemonOptions): Promise<DaemonRun> {
  const stateDir = mkdtempSync(join(tmpdir(), 'hostop-bench-state-'));
  const names = o.hosts.map((h) => h.name);
  const args = ['--resync', '1h', '--log-level', 'debug', '--no-prune', '--state-dir', stateDir];
  args.push('--concurrency', String(o.concurrency));
  const spawned = Date.now();
  const d = await DaemonProcess.start(o.repo, o.dir, args);
  try {
    const startSampler = rssSampler(d.pid);
    const first = await d.waitPasses(names, 0, 180_000);
    const start = passOf(first, spawned, cpuSeconds(d.pid), startSampler.stop());
    const warm: DaemonPass[] = [];
    for (let i = 0; i < o.warmPasses; i++) {
      await sleep(500);
      const from = d.logs.length;
      const cpu0 = cpuSeconds(d.pid);
      const sampler = rssSampler(d.pid);
      const t0 = Date.now();
      d.signal('SIGHUP');
      const done = await d.waitPasses(names, from, 120_000);
      warm.push(passOf(done, t0, cpuSeconds(d.pid) - cpu0, sampler.stop()));
    }
    await sleep(1000);
    const cpu0 = cpuSeconds(d.pid);
    const switches0 = mainThreadSwitches(d.pid);
    await sleep(o.idleSeconds * 1000);
    const idleCpu = cpuSeconds(d.pid) - cpu0;
    const wakeups = (mainThreadSwitches(d.pid) - switches0) / o.idleSeconds;
    const mem = memoryKb(d.pid);
    const run: DaemonRun = {
      hosts: o.hosts.length,
      start,
      warm,
      idle: {
        seconds: o.idleSeconds,
        cpuPercent: (idleCpu / o.idleSeconds) * 100,
        rssKb: mem.rss,
        wakeupsPerSecond: wakeups,
      },
      hwmKb: mem.hwm,
    };
    if (o.edits > 0) run.commitToConverged = await commitToConverged(d, o);
    run.hwmKb = memoryKb(d.pid).hwm;
    return run;
  } finally {
    await d.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

function passOf(done: Map<string, LogRecord>, t0: number, cpu: number, peakRssKb: number): DaemonPass {
  const statuses: Record<string, number> = {};
  let last = t0;
  for (const r of done.values()) {
    statuses[r.status ?? '?'] = (statuses[r.status ?? '?'] ?? 0) + 1;
    last = Math.max(last, r.time);
  }
  return { ms: last - t0, cpuSeconds: cpu, peakRssKb, statuses };
}

/**
 * `edits` times: rewrite one host's resource file (hosts in turn) and time until (a) the host's file holds the
 * new bytes, polled every ~10 ms over a connection of our own, and (b) the daemon logs that host converged.
 */
async function commitToConverged(d: DaemonProcess, o: DaemonOptions): Promise<CommitToConverged> {
  const pool = new ConnectionPool();
  const out: CommitToConverged = { fileSeenMs: [], convergedMs: [], loadedMs: [], passMs: [], statuses: {} };
  const edited = new Set<LabHost>();
  try {
    for (let i = 0; i < o.edits; i++) {
      const host = o.hosts[(i * 7) % o.hosts.length]!;
      edited.add(host);
      const ref = o.refs.find((r) => r.name === host.name)!;
      const conn = await pool.connection(ref);
      const want = hostConf(host, i + 1);
      const from = d.logs.length;
      const t0 = Date.now();
      writeHostConf(o.dir, host, i + 1);
      const seen = (async () => {
        const deadline = t0 + 30_000;
        while (Date.now() < deadline) {
          const res = await conn.run(`cat ${HOST_CONF}\n`, { timeoutMs: 5_000 });
          if (res.stdout.toString('utf8') === want) return Date.now();
          await sleep(10);
        }
        throw new Error(`${host.name}: ${HOST_CONF} did not change within 30 s of edit ${i + 1}`);
      })();
      const pass = await d.waitFor(
        (r) => r.host === host.name && r.msg.startsWith('pass ') && r.time >= t0,
        30_000,
        `${host.name} to converge after edit ${i + 1}`,
        from,
      );
      const loaded = d.logs.slice(from).find((r) => r.msg === 'desired state loaded');
      out.fileSeenMs.push((await seen) - t0);
      out.convergedMs.push(pass.time - t0);
      if (loaded) out.loadedMs.push(loaded.time - t0);
      out.passMs.push(pass.durationMs ?? Number.NaN);
      out.statuses[pass.status ?? '?'] = (out.statuses[pass.status ?? '?'] ?? 0) + 1;
      await sleep(300);
    }
    // Put every edited host back to its baseline so the next benchmark starts from the converged state.
    const from = d.logs.length;
    for (const h of edited) writeHostConf(o.dir, h, 0);
    await d.waitPasses(
      [...edited].map((h) => h.name),
      from,
      60_000,
    );
    return out;
  } finally {
    pool.closeAll();
  }
}
