import type { FileIntent, HostIntent, HostRef, ServiceIntent } from '../../src/core/model.js';

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
  return { host, files, services, checks: [] };
}
