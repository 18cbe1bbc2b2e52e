import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { HostRef } from '../../src/core/model.js';

/** The lab's output directory (`npm run lab -- up` writes it); shared by every lab test. */
export const LAB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../.lab');

interface HostDoc {
  kind?: string;
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: {
    address?: string;
    port?: number;
    user?: string;
    hostKey?: string;
    identityFile?: string;
    privilege?: 'root' | 'sudo';
  };
}

/** The lab's `Host` resources from `.lab/hosts.yaml` as HostRefs, in file order. Throws when the lab is not up. */
export function labHosts(): HostRef[] {
  const file = join(LAB_DIR, 'hosts.yaml');
  if (!existsSync(file))
    throw new Error(`${file} is missing: bring the lab up first (npm run lab -- up --hosts N)`);
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as HostDoc)
    .filter((d) => d?.kind === 'Host')
    .map((d) => ({
      name: d.metadata?.name as string,
      labels: d.metadata?.labels ?? {},
      address: d.spec?.address as string,
      port: d.spec?.port ?? 22,
      user: d.spec?.user ?? 'root',
      hostKey: d.spec?.hostKey as string,
      identityFile: d.spec?.identityFile,
      privilege: d.spec?.privilege ?? 'root',
    }));
}

/** One lab host by name; throws when it is not in the lab. */
export function labHost(name: string): HostRef {
  const host = labHosts().find((h) => h.name === name);
  if (!host) throw new Error(`lab host ${name} is not up (see ${join(LAB_DIR, 'hosts.yaml')})`);
  return host;
}

/**
 * Runs a command on a lab host with the plain OpenSSH client (`ssh -F .lab/ssh_config`): the independent
 * witness lab tests compare hostop against. `command` is a remote shell command line; returns stdout.
 */
export function labSsh(host: string, command: string, input?: string | Buffer): Buffer {
  return execFileSync('ssh', ['-F', join(LAB_DIR, 'ssh_config'), host, command], {
    input,
    maxBuffer: 64 * 1024 * 1024,
  });
}
