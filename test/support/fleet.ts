import { type SpawnOptions, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { HostRef } from '../../src/core/model.js';
import { labHost } from './lab.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The built CLI, exactly as a user runs it (`npm test` builds before the lab tests). */
export const HOSTOP_BIN = join(ROOT, 'bin', 'hostop.js');

/** `Host` documents for the given lab hosts (or any HostRef), as YAML. */
export function hostDocs(hosts: (string | HostRef)[]): string {
  return hosts
    .map((h) => (typeof h === 'string' ? labHost(h) : h))
    .map((h) =>
      stringify({
        apiVersion: 'hostop.dev/v1alpha1',
        kind: 'Host',
        metadata: { name: h.name, labels: h.labels },
        spec: {
          address: h.address,
          port: h.port,
          user: h.user,
          hostKey: h.hostKey,
          identityFile: h.identityFile,
          privilege: h.privilege,
        },
      }),
    )
    .join('---\n');
}

/** A fresh desired-state directory with the given hosts and resources (YAML text); returns its path. */
export function desiredState(hosts: (string | HostRef)[], resources: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'hostop-ds-'));
  writeDesiredState(dir, hosts, resources);
  return dir;
}

/** (Re)writes `hosts.yaml` and `resources.yaml` in `dir`. */
export function writeDesiredState(dir: string, hosts: (string | HostRef)[], resources: string): void {
  writeFileSync(join(dir, 'hosts.yaml'), hostDocs(hosts));
  writeFileSync(join(dir, 'resources.yaml'), resources);
}

/** A `File` resource document (YAML) for `hosts`; `extra` is appended as further `spec` lines. */
export function fileResource(
  name: string,
  hosts: string[],
  path: string,
  content: string,
  extra = '',
): string {
  return `
apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: ${name} }
spec:
  hosts: [${hosts.join(', ')}]
  path: ${path}
  content: ${JSON.stringify(content)}
${extra}`;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the hostop CLI to completion (argv, no shell). Asynchronous on purpose: a synchronous child would block
 * the test worker's event loop for the whole run, and vitest's worker RPC times out after a minute.
 */
export function hostop(args: string[], timeoutMs = 180_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HOSTOP_BIN, ...args], { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Starts the hostop CLI in the background (e.g. `run`); the caller stops it. */
export function startHostop(args: string[], opts: SpawnOptions = {}) {
  return spawn(process.execPath, [HOSTOP_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}
