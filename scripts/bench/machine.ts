import { spawnSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';

export interface Machine {
  nproc: number;
  memoryGiB: number;
  kernel: string;
  cpuModel: string;
  node: string;
  ansible: string;
  openssh: string;
  commit: string;
  /** Uncommitted changes under src/ or bin/: the numbers are then for code not in `commit`. */
  codeDirty: boolean;
}

/** stdout, or stderr when stdout is empty (OpenSSH prints its version there); '' when the command is missing. */
function cmd(file: string, args: string[], cwd?: string): string {
  const r = spawnSync(file, args, { cwd, encoding: 'utf8', timeout: 30_000 });
  return r.stdout?.trim() || r.stderr?.trim() || '';
}

export function describeMachine(repo: string): Machine {
  return {
    nproc: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    ansible: cmd('ansible-playbook', ['--version']).split('\n')[0] || 'Ansible not installed',
    openssh: cmd('ssh', ['-V']).trim(),
    commit: cmd('git', ['rev-parse', '--short=12', 'HEAD'], repo),
    codeDirty: cmd('git', ['status', '--porcelain', '--', 'src', 'bin'], repo) !== '',
  };
}
