import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readConfig } from './config.js';
import { DaemonProcess } from './daemon-process.js';
import { writeDesiredState } from './fleet-intent.js';
import { fmtStatuses, hostopCli } from './hostop-scan.js';
import { pickHosts, readLabHosts } from './lab-hosts.js';
import { describeMachine } from './machine.js';
import { loadAverage } from './proc-sample.js';
import { writeBenchSection } from './report.js';
import { measureWatches, renderWatchBench } from './watch-bench.js';

// `BENCH_ONLY=watch npm run bench`: issue 14's benchmark alone. Its section of BENCHMARKS.md lives in the
// hand-written part (between the watch markers), so a full run's generated tables are left as they are.
const repo = resolve(import.meta.dirname, '..', '..');
const config = readConfig();
const tmp = mkdtempSync(join(tmpdir(), 'hostop-bench-watch-'));
const log = (msg: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const BEGIN = '<!-- watch-bench:begin (written by BENCH_ONLY=watch npm run bench) -->';
const END = '<!-- watch-bench:end -->';

async function main(): Promise<void> {
  const lab = readLabHosts(repo);
  const top = Math.max(config.watchHosts, config.watchIdleHosts);
  const hosts = pickHosts(lab, config.watchHosts, top);
  const idleHosts = pickHosts(lab, config.watchIdleHosts, top);
  const dir = join(tmp, 'desired');
  const idleDir = join(tmp, 'desired-idle');
  writeDesiredState(dir, hosts);
  writeDesiredState(idleDir, idleHosts);
  const loadStart = loadAverage();
  const started = new Date();
  const setup = await hostopCli(repo, 'apply', idleDir, config.concurrency);
  log(`set-up apply on ${idleHosts.length} hosts: ${fmtStatuses(setup.statuses)}`);
  const bench = await measureWatches({
    repo,
    dir,
    hosts,
    idleDir,
    idleHosts,
    edits: config.watchEdits,
    baselineEdits: config.watchBaselineEdits,
    baselineResyncS: config.watchBaselineResyncS,
    idleSeconds: config.watchIdleSeconds,
    concurrency: config.concurrency,
    log,
  });
  const m = describeMachine(repo);
  const when = `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${m.commit}${m.codeDirty ? ' (+ uncommitted changes)' : ''}, ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, load average ${loadStart} → ${loadAverage()}`;
  const section = renderWatchBench(bench, when);
  process.stdout.write(`${section}\n`);
  writeBenchSection(join(repo, 'BENCHMARKS.md'), BEGIN, END, section);
  log('BENCHMARKS.md: the host-watch section rewritten');
}

try {
  await main();
} finally {
  DaemonProcess.killAll();
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(0);
