import { join } from 'node:path';
import type { HostIntent } from '../../src/core/model.js';
import { renderSnapshot } from '../../src/core/render.js';
import { fleetPass } from '../../src/engine/fleet-pass.js';
import type { HostMemory } from '../../src/engine/reconcile-host.js';
import { kindByName } from '../../src/kinds/registry.js';
import { loadDesiredState } from '../../src/source/load.js';
import { ConnectionPool } from '../../src/ssh/connection-pool.js';
import type { TransportCounters } from '../../src/ssh/host-connection.js';
import type { TimedRun } from './results.js';
import { type ProcessResult, runProcess, tail } from './run-process.js';

/** The intents hostop renders for a desired-state directory (the same the CLI and daemon work from). */
export function renderIntents(dir: string): HostIntent[] {
  const loaded = loadDesiredState(dir);
  if (!loaded.snapshot)
    throw new Error(`${dir}: invalid desired state: ${loaded.problems.map((p) => p.message).join('; ')}`);
  return renderSnapshot(loaded.snapshot, kindByName).filter((i) => i.files.length + i.services.length > 0);
}

export interface CliRun extends ProcessResult {
  /** Host statuses from `-o json`, e.g. { 'in-sync': 50 }. */
  statuses: Record<string, number>;
}

/**
 * `hostop plan|apply DIR` as a new process (cold: node start-up, load, connect, probe). `--no-prune`, because
 * the lab's hosts are shared: files other suites manage must never be planned for deletion by the benchmark.
 */
export async function hostopCli(
  repo: string,
  verb: 'plan' | 'apply',
  dir: string,
  maxParallel: number,
): Promise<CliRun> {
  const args = [join(repo, 'bin', 'hostop.js'), verb, dir, '--no-prune', '-o', 'json'];
  args.push('--max-parallel', String(maxParallel));
  const res = await runProcess('node', args, { timeoutMs: 300_000, measure: true, cwd: repo });
  let statuses: Record<string, number> = {};
  try {
    const parsed = JSON.parse(res.stdout) as { hosts: { host: string; status: string }[] };
    statuses = {};
    for (const h of parsed.hosts) statuses[h.status] = (statuses[h.status] ?? 0) + 1;
  } catch {
    throw new Error(`hostop ${verb} printed no JSON (exit ${res.code}): ${tail(res.stderr || res.stdout)}`);
  }
  return { ...res, statuses };
}

/** `hostop validate DIR` as a new process: what a cold `plan` spends before its first SSH handshake. */
export async function hostopValidate(repo: string, dir: string): Promise<TimedRun> {
  const res = await runProcess('node', [join(repo, 'bin', 'hostop.js'), 'validate', dir], {
    timeoutMs: 60_000,
    measure: true,
    cwd: repo,
  });
  if (res.code !== 0)
    throw new Error(`hostop validate ${dir}: exit ${res.code}: ${tail(res.stderr || res.stdout)}`);
  return { ms: res.ms, cpuSeconds: res.cpuSeconds, maxRssKb: res.maxRssKb, outcome: 'valid', ok: true };
}

export interface PassCost {
  ms: number;
  /** Per-host deltas over the pass: min and max over the hosts. */
  requests: [number, number];
  channels: [number, number];
  connections: [number, number];
  statuses: Record<string, number>;
}

export interface WarmScans {
  /** The first in-process pass: connects every host, probes with an empty cache, reads each inventory. */
  first: PassCost;
  /** The following passes on the kept pool and memory: what the daemon's resync does. */
  warm: PassCost[];
}

/**
 * In-process no-drift scans through `fleetPass` with one kept `ConnectionPool` and one kept memory map:
 * the first pass is cold, every later one is exactly the daemon's warm resync. Pool counters say how many
 * round trips, channels and connections each host cost per pass.
 */
export async function warmScans(
  intents: HostIntent[],
  runs: number,
  maxParallel: number,
): Promise<WarmScans> {
  const pool = new ConnectionPool();
  const memory = new Map<string, HostMemory>();
  const pass = async (): Promise<PassCost> => {
    const before = new Map(intents.map((i) => [i.host.name, pool.counters(i.host.name)]));
    const started = performance.now();
    const outcomes = await fleetPass(pool, intents, {
      apply: false,
      prune: false,
      wantDiffs: false,
      maxParallel,
      memory,
    });
    const ms = performance.now() - started;
    const statuses: Record<string, number> = {};
    for (const o of outcomes) statuses[o.status] = (statuses[o.status] ?? 0) + 1;
    const deltas = intents.map((i) => delta(before.get(i.host.name)!, pool.counters(i.host.name)));
    return {
      ms,
      requests: range(deltas.map((d) => d.requests)),
      channels: range(deltas.map((d) => d.channelsOpened)),
      connections: range(deltas.map((d) => d.connectionsOpened)),
      statuses,
    };
  };
  try {
    const first = await pass();
    const warm: PassCost[] = [];
    for (let i = 0; i < runs; i++) warm.push(await pass());
    return { first, warm };
  } finally {
    pool.closeAll();
  }
}

function delta(a: TransportCounters, b: TransportCounters): TransportCounters {
  return {
    connectionsOpened: b.connectionsOpened - a.connectionsOpened,
    channelsOpened: b.channelsOpened - a.channelsOpened,
    forwardsOpened: b.forwardsOpened - a.forwardsOpened,
    requests: b.requests - a.requests,
  };
}

function range(values: number[]): [number, number] {
  return [Math.min(...values), Math.max(...values)];
}

/** True when every host of a pass or CLI run came back with one of `ok` statuses. */
export function allHosts(statuses: Record<string, number>, count: number, ...ok: string[]): boolean {
  return ok.reduce((n, s) => n + (statuses[s] ?? 0), 0) === count;
}

export function fmtStatuses(statuses: Record<string, number>): string {
  return Object.entries(statuses)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
}
