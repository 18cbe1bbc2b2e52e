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
