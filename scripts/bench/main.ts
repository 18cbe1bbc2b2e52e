import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type AnsibleRun, closeAnsibleMasters, runAnsible, writeAnsibleProject } from './ansible.js';
import { allSizes, readConfig } from './config.js';
import { measureDaemon } from './daemon-bench.js';
import { DaemonProcess } from './daemon-process.js';
import { BENCH_DIR, writeDesiredState } from './fleet-intent.js';
import { allHosts, fmtStatuses, hostopCli, hostopValidate, renderIntents, warmScans } from './hostop-scan.js';
import { type LabHost, pickHosts, readLabHosts, sshRun } from './lab-hosts.js';
import { describeMachine } from './machine.js';
import { loadAverage } from './proc-sample.js';
import { renderReport, writeBenchmarksFile } from './report.js';
import type { DriftResult, Results, ScanResult, TimedRun } from './results.js';
import { measureFloor, measureOnHostCost } from './ssh-floor.js';
import { fmtMs } from './stats.js';

const repo = resolve(import.meta.dirname, '..', '..');
const config = readConfig();
const tmp = mkdtempSync(join(tmpdir(), 'hostop-bench-'));
const log = (msg: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

const results: Results = {
  machine: describeMachine(repo),
  config,
  startedAt: new Date().toISOString(),
  finishedAt: '',
  loadStart: loadAverage(),
  loadEnd: '',
  scans: [],
  startup: [],
  daemons: [],
  notes: [],
};
const note = (msg: string) => {
  log(`note: ${msg}`);
  results.notes.push(msg);
};

const labHosts = readLabHosts(repo);
const dirs = new Map<number, string>();
const hostsOf = new Map<number, LabHost[]>();
const top = Math.max(...allSizes(config));
for (const n of allSizes(config)) {
  const hosts = pickHosts(labHosts, n, top);
  const dir = join(tmp, `desired-${n}`);
  writeDesiredState(dir, hosts);
  dirs.set(n, dir);
  hostsOf.set(n, hosts);
}

function cliRun(r: Awaited<ReturnType<typeof hostopCli>>, ok: boolean): TimedRun {
  return { ms: r.ms, cpuSeconds: r.cpuSeconds, maxRssKb: r.maxRssKb, outcome: fmtStatuses(r.statuses), ok };
}

function ansibleRun(r: AnsibleRun, ok: boolean): TimedRun {
  const changed = [...r.recap.values()].filter((x) => x.changed > 0).length;
  const bad = [...r.recap.values()].filter((x) => x.unreachable + x.failed > 0).length;
  const outcome = `${r.recap.size - changed - bad} unchanged, ${changed} changed, ${bad} failed/unreachable`;
  return { ms: r.ms, cpuSeconds: r.cpuSeconds, outcome, ok };
}

/** Brings every bench host to the desired state once; the no-drift scans start from there. */
async function converge(): Promise<void> {
  const n = Math.max(...dirs.keys());
  for (let attempt = 1; attempt <= 2; attempt++) {
    const r = await hostopCli(repo, 'apply', dirs.get(n)!, config.concurrency);
    log(`set-up apply on ${n} hosts: ${fmtMs(r.ms)}, ${fmtStatuses(r.statuses)}`);
    if (r.code === 0) return;
  }
  note(`the set-up apply on ${n} hosts did not converge every host; affected scans show it in their outcome`);
}

async function scan(n: number, withAnsible: boolean): Promise<ScanResult> {
  const dir = dirs.get(n)!;
  const res: ScanResult = { hosts: n, cold: [], ansibleCheck: [] };
  const intents = renderIntents(dir);
  res.warm = await warmScans(intents, config.warmRuns, config.concurrency);
  const warmBad = res.warm.warm.filter((p) => !allHosts(p.statuses, n, 'in-sync'));
  if (warmBad.length) {
    const seen = [...new Set(warmBad.map((p) => fmtStatuses(p.statuses)))].join('; ');
    note(`${n} hosts: ${warmBad.length} of ${res.warm.warm.length} warm scans not all in sync (${seen})`);
  }
  log(`${n} hosts: warm scans ${res.warm.warm.map((p) => fmtMs(p.ms)).join(', ')}`);
  for (let i = 0; i < config.coldRuns; i++) {
    const r = await hostopCli(repo, 'plan', dir, config.concurrency);
    const ok = r.code === 0 && allHosts(r.statuses, n, 'in-sync');
    if (!ok) note(`${n} hosts, cold plan ${i + 1}: exit ${r.code}, ${fmtStatuses(r.statuses)}`);
    res.cold.push(cliRun(r, ok));
  }
  log(`${n} hosts: cold plans ${res.cold.map((r) => fmtMs(r.ms)).join(', ')}`);
  const runs = withAnsible ? (config.ansibleCheckRuns[n] ?? 0) : 0;
  if (runs > 0) {
    const project = writeAnsibleProject(join(tmp, `ansible-${n}`), intents, {
      forks: config.concurrency,
      knownHosts: join(repo, '.lab', 'known_hosts'),
      identityFile: join(repo, '.lab', 'id_ed25519'),
    });
    try {
      for (let i = 0; i < runs; i++) {
        const r = await runAnsible(project, true, 20 * 60_000);
        const ok =
          r.recap.size === n &&
          [...r.recap.values()].every((x) => x.changed + x.failed + x.unreachable === 0);
        const run = ansibleRun(r, ok);
        if (!ok) note(`${n} hosts, ansible --check ${i + 1}: exit ${r.code}, ${run.outcome}`);
        res.ansibleCheck.push(run);
        log(`${n} hosts: ansible-playbook --check --diff ${fmtMs(r.ms)} (${run.outcome})`);
      }
    } finally {
      await closeAnsibleMasters(project);
    }
  }
  return res;
}

async function drift(): Promise<DriftResult> {
  const n = config.driftHosts;
  const hosts = hostsOf.get(n)!;
  const dir = dirs.get(n)!;
  const intents = renderIntents(dir);
  const app = intents[0]!.files.find((f) => f.path === `${BENCH_DIR}/app.yaml`)!.content;
  const out: DriftResult = { hosts: n, hostopApply: [], ansibleApply: [] };
  // A changed value, not a comment: hostop compares YAML by value, so an added comment is not drift to it.
  const tamper = (h: LabHost) => sshRun(repo, h.name, `echo 'tampered: true' >> ${BENCH_DIR}/app.yaml`);
  const restored = async (h: LabHost) => (await sshRun(repo, h.name, `cat ${BENCH_DIR}/app.yaml`)) === app;
  for (let i = 0; i < config.driftRuns; i++) {
    const victim = hosts[(i * 11) % n]!;
    await tamper(victim);
    const r = await hostopCli(repo, 'apply', dir, config.concurrency);
    const ok = r.code === 0 && r.statuses.converged === 1 && (await restored(victim));
    if (!ok) note(`drift, hostop apply ${i + 1}: exit ${r.code}, ${fmtStatuses(r.statuses)}`);
    out.hostopApply.push(cliRun(r, ok));
    log(`drift on ${victim.name}: hostop apply ${fmtMs(r.ms)} (${fmtStatuses(r.statuses)})`);
  }
  if (!config.ansible) return out;
  const project = writeAnsibleProject(join(tmp, `ansible-drift-${n}`), intents, {
    forks: config.concurrency,
    knownHosts: join(repo, '.lab', 'known_hosts'),
    identityFile: join(repo, '.lab', 'id_ed25519'),
  });
  try {
    for (let i = 0; i < config.ansibleDriftRuns; i++) {
      const victim = hosts[(i * 11 + 5) % n]!;
      await tamper(victim);
      const r = await runAnsible(project, false, 20 * 60_000);
      const others = [...r.recap].filter(([h]) => h !== victim.name);
      const ok =
        r.code === 0 &&
        (r.recap.get(victim.name)?.changed ?? 0) > 0 &&
        others.every(([, x]) => x.changed === 0) &&
        (await restored(victim));
      const run = ansibleRun(r, ok);
      if (!ok) note(`drift, ansible apply ${i + 1}: exit ${r.code}, ${run.outcome}`);
      out.ansibleApply.push(run);
      log(`drift on ${victim.name}: ansible-playbook ${fmtMs(r.ms)} (${run.outcome})`);
    }
  } finally {
    await closeAnsibleMasters(project);
  }
  return out;
}

async function main(): Promise<void> {
  log(`hosts in the lab: ${labHosts.length}; sizes ${allSizes(config).join(', ')}; scratch ${tmp}`);
  await converge();
  const floorHosts = hostsOf.get(config.floorHosts)!;
  results.floor = { hosts: floorHosts.length, ...(await measureFloor(repo, floorHosts, config.floorRuns)) };
  log(
    `floor: new ${results.floor.newConnection.map(fmtMs).join(', ')}; mux ${results.floor.controlMaster.map(fmtMs).join(', ')}`,
  );
  results.onHost = await measureOnHostCost(repo, floorHosts[0]!);
  for (let i = 0; i < 3; i++) results.startup.push(await hostopValidate(repo, dirs.get(config.floorHosts)!));
  log(`start-up (hostop validate): ${results.startup.map((r) => fmtMs(r.ms)).join(', ')}`);
  for (const n of [...new Set([...config.scanSizes, ...config.scaleSizes])].sort((a, b) => a - b)) {
    results.scans.push(await scan(n, config.ansible && config.scanSizes.includes(n)));
  }
  results.drift = await drift();
  for (const n of [...new Set([...config.scanSizes, ...config.scaleSizes])].sort((a, b) => a - b)) {
    const hosts = hostsOf.get(n)!;
    const run = await measureDaemon({
      repo,
      dir: dirs.get(n)!,
      hosts,
      refs: renderIntents(dirs.get(n)!).map((i) => i.host),
      concurrency: config.concurrency,
      warmPasses: config.daemonWarmPasses,
      idleSeconds: config.idleSeconds,
      edits: n === config.driftHosts ? config.edits : 0,
    });
    results.daemons.push(run);
    log(
      `daemon on ${n} hosts: first pass ${fmtMs(run.start.ms)}, resyncs ${run.warm.map((p) => fmtMs(p.ms)).join(', ')}, idle ${run.idle.cpuPercent.toFixed(2)} % CPU, RSS ${Math.round(run.idle.rssKb / 1024)} MB`,
    );
  }
}

let failed = false;
const cleanup = () => {
  DaemonProcess.killAll();
  rmSync(tmp, { recursive: true, force: true });
};
for (const [sig, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)
  process.once(sig, () => {
    cleanup();
    process.exit(code);
  });
try {
  await main();
} catch (e) {
  failed = true;
  note(`the benchmark stopped early: ${(e as Error).stack ?? String(e)}`);
} finally {
  results.finishedAt = new Date().toISOString();
  results.loadEnd = loadAverage();
  cleanup();
}
const report = renderReport(results);
process.stdout.write(report);
const raw = join(tmpdir(), 'hostop-bench-results.json');
writeFileSync(raw, JSON.stringify(results, null, 2));
if (failed) {
  // A partial run must not replace the numbers of a complete one.
  log(`BENCHMARKS.md left as it was (the run failed); raw results in ${raw}`);
  process.exit(1);
}
writeBenchmarksFile(join(repo, 'BENCHMARKS.md'), report);
log(`BENCHMARKS.md rewritten; raw results in ${raw}`);
process.exit(0);
