import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabHost } from './lab-hosts.js';
import { runProcess } from './run-process.js';

/** What one round trip does on each host: about what hostop's probe asks (hash the files, ask systemd). */
export const FLOOR_COMMAND = 'sha256sum /etc/hostop-bench/*; systemctl is-active billing-api.service';

export interface Floor {
  /** 50 (or N) `ssh` processes in parallel, each a new connection (handshake + auth + session). */
  newConnection: number[];
  /** The same over already-open OpenSSH ControlMaster connections (a process and a session each). */
  controlMaster: number[];
}

/** Times `runs` rounds of one parallel `ssh HOST CMD` per host, both ways; masters are always closed. */
export async function measureFloor(repo: string, hosts: LabHost[], runs: number): Promise<Floor> {
  const config = join(repo, '.lab', 'ssh_config');
  const cmDir = mkdtempSync(join(tmpdir(), 'hostop-bench-cm-'));
  const cm = (h: LabHost) => ['-o', `ControlPath=${join(cmDir, h.name)}`];
  const round = async (extra: (h: LabHost) => string[]): Promise<number> => {
    const started = performance.now();
    const results = await Promise.all(
      hosts.map((h) =>
        runProcess('ssh', ['-F', config, ...extra(h), h.name, FLOOR_COMMAND], { timeoutMs: 60_000 }),
      ),
    );
    const ms = performance.now() - started;
    const bad = results.findIndex((r) => r.code !== 0);
    if (bad >= 0)
      throw new Error(`ssh ${hosts[bad]!.name}: exit ${results[bad]!.code}: ${results[bad]!.stderr}`);
    return ms;
  };
  const out: Floor = { newConnection: [], controlMaster: [] };
  try {
    for (let i = 0; i < runs; i++)
      out.newConnection.push(await round(() => ['-o', 'ControlMaster=no', '-o', 'ControlPath=none']));
    await Promise.all(
      hosts.map((h) =>
        runProcess(
          'ssh',
          ['-F', config, ...cm(h), '-o', 'ControlMaster=yes', '-o', 'ControlPersist=600', '-fN', h.name],
          {
            timeoutMs: 60_000,
          },
        ),
      ),
    );
    for (let i = 0; i < runs; i++)
      out.controlMaster.push(await round((h) => [...cm(h), '-o', 'ControlMaster=no']));
    return out;
  } finally {
    await Promise.all(
      hosts.map((h) =>
        runProcess('ssh', ['-F', config, ...cm(h), '-O', 'exit', h.name], { timeoutMs: 10_000 }),
      ),
    );
    rmSync(cmDir, { recursive: true, force: true });
  }
}

/** What one warm probe costs on the host itself, per call, measured in a loop on one host. */
export interface OnHostCost {
  host: string;
  /** `systemctl show` of the host's units (the probe's one D-Bus round trip), ms per call. */
  systemctlShowMs: number;
  /** One `stat` of the host's three files (the probe's one process on a warm pass), ms per call. */
  statMs: number;
}

/**
 * Times `loops` runs of the two processes a warm probe spawns, inside one ssh session on `host`, with the
 * host's own clock: the part of a scan no client-side change can remove.
 */
export async function measureOnHostCost(repo: string, host: LabHost, loops = 40): Promise<OnHostCost> {
  const script = [
    't0=$(date +%s%N)',
    `for i in $(seq ${loops}); do systemctl show --all -p Id,LoadState,ActiveState,UnitFileState -- billing-api.service litellm.service >/dev/null; done`,
    't1=$(date +%s%N)',
    `for i in $(seq ${loops}); do stat -c '%f %s %u %g %U %G %d:%i:%s:%.9Y:%.9Z' -- /etc/hostop-bench/* >/dev/null; done`,
    't2=$(date +%s%N)',
    'echo $((t1 - t0)) $((t2 - t1))',
  ].join('\n');
  const res = await runProcess('ssh', ['-F', join(repo, '.lab', 'ssh_config'), host.name, script], {
    timeoutMs: 60_000,
  });
  const [show, stat] = res.stdout.trim().split(' ').map(Number);
  if (res.code !== 0 || !Number.isFinite(show) || !Number.isFinite(stat))
    throw new Error(`on-host cost on ${host.name}: exit ${res.code}: ${res.stderr || res.stdout}`);
  return { host: host.name, systemctlShowMs: show! / 1e6 / loops, statMs: stat! / 1e6 / loops };
}
