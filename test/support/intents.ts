import { sha256 } from '../../src/core/diff.js';
import type { FileIntent, HostIntent, HostRef, ObservedHost, ServiceIntent } from '../../src/core/model.js';

/** A HostRef for pure unit tests (never connected to). */
export const TEST_HOST: HostRef = {
  name: 'h1',
  labels: {},
  address: 'x',
  port: 22,
  user: 'root',
  hostKey: 'k',
  privilege: 'root',
};

/** A plain-text File intent at /etc/x.conf owned by File/x; override any field. */
export function fileIntent(over: Partial<FileIntent> = {}): FileIntent {
  return {
    path: '/etc/x.conf',
    content: 'x\n',
    mode: '0644',
    owner: 'root',
    group: 'root',
    format: 'text',
    notify: [],
    secrets: [],
    resource: { kind: 'File', name: 'x' },
    ...over,
  };
}

/** One host's intent with these files and services, no checks. */
export function hostIntent(
  files: FileIntent[],
  services: ServiceIntent[] = [],
  host = TEST_HOST,
): HostIntent {
  return { host, files, services, checks: [], versions: [] };
}

/** What a probe of TEST_HOST would report: each path a 0644 root:root regular file with this content. */
export function observedFiles(contents: Record<string, string>): ObservedHost {
  const files: ObservedHost['files'] = {};
  for (const [path, content] of Object.entries(contents)) {
    files[path] = {
      path,
      type: 'file',
      sha256: sha256(content),
      size: Buffer.byteLength(content),
      mode: '0644',
      owner: 'root',
      group: 'root',
    };
  }
  return {
    host: TEST_HOST.name,
    facts: { hostname: TEST_HOST.name, os: 'Debian', systemd: true },
    files,
    units: {},
  };
}
