import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { runProcess } from './run-process.js';

/** One lab host as `scripts/lab.sh` describes it in `.lab/hosts.yaml`. */
export interface LabHost {
  name: string;
  address: string;
  /** Its Host resource, as a plain object ready to be written into a desired-state directory. */
  resource: Record<string, unknown>;
}

export function readLabHosts(repo: string): LabHost[] {
  const text = readFileSync(join(repo, '.lab', 'hosts.yaml'), 'utf8');
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Record<string, unknown> | null)
    .filter((r): r is Record<string, unknown> => r?.kind === 'Host')
    .map((r) => ({
      name: (r.metadata as { name: string }).name,
      address: (r.spec as { address: string }).address,
      resource: r,
    }))
    .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}

/**
 * The hosts of an N-host measurement when the biggest set is `top`: the last N of lab-01…lab-<top> (with top
 * 150: 10 hosts are lab-141…150, 100 are lab-51…150), so every set but the biggest stays clear of the
 * low-numbered hosts other test suites claim (lab-01…lab-24 when this was written).
 */
export function pickHosts(all: LabHost[], n: number, top: number): LabHost[] {
  if (all.length < top) throw new Error(`the lab has ${all.length} hosts, the benchmark needs ${top}`);
  return all.slice(top - n, top);
}

export function hostResourcesYaml(hosts: LabHost[]): string {
  return hosts.map((h) => stringify(h.resource)).join('---\n');
}

/** Runs one shell command on a lab host with the system ssh client (set-up and drift injection only). */
export async function sshRun(
  repo: string,
  host: string,
  command: string,
  timeoutMs = 30_000,
): Promise<string> {
  const res = await runProcess('ssh', ['-F', join(repo, '.lab', 'ssh_config'), host, command], { timeoutMs });
  if (res.code !== 0)
    throw new Error(`ssh ${host} ${JSON.stringify(command)}: exit ${res.code}: ${res.stderr}`);
  return res.stdout;
}
