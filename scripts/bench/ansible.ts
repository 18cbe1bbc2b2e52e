import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { HostIntent } from '../../src/core/model.js';
import { runProcess, tail } from './run-process.js';

/** A generated Ansible project: config, inventory and playbook doing exactly what the hostop intents say. */
export interface AnsibleProject {
  dir: string;
  playbook: string;
  env: NodeJS.ProcessEnv;
  hosts: string[];
}

/** Per-host line of the PLAY RECAP. */
export interface Recap {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
}

export interface AnsibleRun {
  ms: number;
  cpuSeconds?: number;
  code: number | null;
  recap: Map<string, Recap>;
}

/**
 * Writes the project into `dir`. The intent is the one hostop renders: the same files (content, mode, owner,
 * group), the same units (running, enabled) and a reload handler per unit notified by a changed file. Contents
 * travel as host variables; text that Jinja would read as template syntax is refused rather than mangled.
 * Settings follow the issue: `forks` = hostop's concurrency, pipelining on, facts off, host keys checked
 * against the lab's known_hosts.
 */
export function writeAnsibleProject(
  dir: string,
  intents: HostIntent[],
  opts: { forks: number; knownHosts: string; identityFile: string },
): AnsibleProject {
  mkdirSync(join(dir, 'cp'), { recursive: true });
  const paths = new Map<string, Set<string>>();
  const units = new Set<string>();
  const hosts: Record<string, unknown> = {};
  for (const intent of intents) {
    const files: Record<string, unknown> = {};
    for (const f of intent.files) {
      if (/\{\{|\{%|\{#/.test(f.content))
        throw new Error(`${f.path}: content has Jinja syntax; not generated`);
      files[f.path] = { content: f.content, mode: f.mode, owner: f.owner, group: f.group };
      const notify = paths.get(f.path) ?? new Set<string>();
      for (const u of f.notify) notify.add(u);
      paths.set(f.path, notify);
    }
    for (const s of intent.services) {
      if (s.state !== 'running' || s.enabled !== true)
        throw new Error(`${s.unit}: only running+enabled units`);
      units.add(s.unit);
    }
    hosts[intent.host.name] = {
      ansible_host: intent.host.address,
      ansible_port: intent.host.port,
      hb_files: files,
      hb_units: intent.services.map((s) => s.unit),
    };
  }
  const inventory = {
    bench: {
      hosts,
      vars: { ansible_user: 'root', ansible_ssh_private_key_file: opts.identityFile },
    },
  };
  const tasks = [
    ...[...paths].map(([path, notify]) => ({
      name: `file ${path}`,
      'ansible.builtin.copy': {
        dest: path,
        content: `{{ hb_files['${path}'].content }}`,
        mode: `{{ hb_files['${path}'].mode }}`,
        owner: `{{ hb_files['${path}'].owner }}`,
        group: `{{ hb_files['${path}'].group }}`,
      },
      when: `'${path}' in hb_files`,
      ...(notify.size ? { notify: [...notify].map((u) => `reload ${u}`) } : {}),
    })),
    ...[...units].map((unit) => ({
      name: `service ${unit}`,
      'ansible.builtin.systemd': { name: unit, state: 'started', enabled: true },
      when: `'${unit}' in hb_units`,
    })),
  ];
  const handlers = [...units].map((unit) => ({
    name: `reload ${unit}`,
    'ansible.builtin.systemd': { name: unit, state: 'reloaded' },
  }));
  const playbook = [{ name: 'hostop-bench', hosts: 'bench', gather_facts: false, tasks, handlers }];
  const sshArgs = [
    '-o ControlMaster=auto -o ControlPersist=60s',
    `-o UserKnownHostsFile=${opts.knownHosts} -o GlobalKnownHostsFile=/dev/null`,
    '-o StrictHostKeyChecking=yes -o HostKeyAlgorithms=ssh-ed25519 -o IdentitiesOnly=yes -o BatchMode=yes',
  ].join(' ');
  const cfg = [
    '[defaults]',
    `inventory = ${join(dir, 'inventory.yaml')}`,
    `forks = ${opts.forks}`,
    'host_key_checking = True',
    'gathering = explicit',
    'interpreter_python = /usr/bin/python3',
    'retry_files_enabled = False',
    'deprecation_warnings = False',
    `local_tmp = ${join(dir, 'tmp')}`,
    '',
    '[ssh_connection]',
    'pipelining = True',
    `ssh_args = ${sshArgs}`,
    `control_path_dir = ${join(dir, 'cp')}`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'ansible.cfg'), cfg);
  writeFileSync(join(dir, 'inventory.yaml'), stringify(inventory));
  writeFileSync(join(dir, 'playbook.yaml'), stringify(playbook));
  return {
    dir,
    playbook: join(dir, 'playbook.yaml'),
    hosts: intents.map((i) => i.host.name),
    env: {
      ...process.env,
      ANSIBLE_CONFIG: join(dir, 'ansible.cfg'),
      ANSIBLE_HOME: join(dir, 'home'),
      ANSIBLE_NOCOLOR: '1',
    },
  };
}

/** Runs the playbook (`check` adds --check --diff). Never rejects for a failed play: the recap says what happened. */
export async function runAnsible(
  project: AnsibleProject,
  check: boolean,
  timeoutMs: number,
): Promise<AnsibleRun> {
  const args = [project.playbook, ...(check ? ['--check', '--diff'] : [])];
  const res = await runProcess('ansible-playbook', args, {
    timeoutMs,
    env: project.env,
    cwd: project.dir,
    measure: true,
  });
  const recap = parseRecap(res.stdout);
  if (res.timedOut) throw new Error(`ansible-playbook timed out after ${timeoutMs} ms:\n${tail(res.stdout)}`);
  if (recap.size === 0)
    throw new Error(
      `ansible-playbook printed no recap (exit ${res.code}):\n${tail(res.stdout + res.stderr)}`,
    );
  return { ms: res.ms, cpuSeconds: res.cpuSeconds, code: res.code, recap };
}

/** `lab-51 : ok=4 changed=0 unreachable=0 failed=0 ...` lines of the PLAY RECAP. */
export function parseRecap(stdout: string): Map<string, Recap> {
  const out = new Map<string, Recap>();
  const at = stdout.lastIndexOf('PLAY RECAP');
  if (at < 0) return out;
  for (const line of stdout.slice(at).split('\n')) {
    const m = /^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/.exec(line);
    if (m) out.set(m[1]!, { ok: +m[2]!, changed: +m[3]!, unreachable: +m[4]!, failed: +m[5]! });
  }
  return out;
}

/** Closes the ControlMaster connections Ansible left behind (they would otherwise linger for ControlPersist). */
export async function closeAnsibleMasters(project: AnsibleProject): Promise<void> {
  const cp = join(project.dir, 'cp');
  const sockets = readdirSync(cp);
  await Promise.all(
    sockets.map((s) =>
      runProcess('ssh', ['-o', `ControlPath=${join(cp, s)}`, '-O', 'exit', 'ignored'], { timeoutMs: 10_000 }),
    ),
  );
}
