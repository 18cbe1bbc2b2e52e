import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { hostLayout } from '../../../src/apply/host-scripts.js';
import { buildSnapshot } from '../../../src/core/build-snapshot.js';
import type { HostIntent } from '../../../src/core/model.js';
import { type PassOptions, newHostMemory, reconcileHost } from '../../../src/engine/reconcile-host.js';
import { kindByName } from '../../../src/kinds/registry.js';
import { kindSchemas } from '../../../src/source/crds.js';
import { hostDoc } from '../../support/documents.js';
import { FakeHost, fakePool } from '../../support/fake-host.js';
import { TEST_HOST } from '../../support/intents.js';

// A whole pass (probe, diff, apply, verifying probe) on an in-memory host for the two CRD promises of
// test/unit/core/suspend-and-notify.test.ts: a suspended resource's files stay as they are; a notified unit that
// nothing manages is restarted (and one that is not there does not keep the host drifted).

const APPLY: PassOptions = { apply: true, prune: true, wantDiffs: false };
const SITE = '/etc/nginx/conf.d/site.conf';

const file = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'hostop.dev/v1alpha1',
  kind: 'File',
  metadata: { name },
  spec: { hosts: [TEST_HOST.name], content: `${name}\n`, ...spec },
});

/** The intent of TEST_HOST for these resources, as the daemon renders it. */
function intentOf(...resources: object[]): HostIntent {
  const docs = [hostDoc(TEST_HOST.name, { address: TEST_HOST.address }), ...resources];
  const built = buildSnapshot(
    [{ file: 'r.yaml', text: docs.map((d) => stringify(d)).join('---\n') }],
    kindSchemas(),
    kindByName,
  );
  expect(built.problems.filter((p) => p.severity === 'error')).toEqual([]);
  return { ...built.intents![0]!, host: TEST_HOST };
}

const inventory = (h: FakeHost) =>
  JSON.parse(h.files.get(hostLayout.inventory)?.content ?? '{"files":{}}').files;

describe('a notified unit that no resource manages', () => {
  const intent = intentOf(file('site', { path: SITE, notify: ['nginx'] }));

  it('is restarted once when its file changes, and the restart is confirmed', async () => {
    const h = new FakeHost();
    h.write(SITE, 'edited by hand\n');
    const started = h.unit('nginx.service').mainStart;
    const out = await reconcileHost(fakePool(h), intent, newHostMemory(), APPLY);
    expect(out.error).toBeUndefined();
    expect(out.status).toBe('converged');
    expect(out.resources).toEqual([{ kind: 'File', name: 'site', result: 'applied' }]);
    expect(out.plan?.services.map((s) => [s.unit, s.actions])).toEqual([['nginx.service', ['restart']]]);
    expect(h.files.get(SITE)!.content).toBe('site\n');
    expect(h.units.get('nginx.service')!.mainStart).toBeGreaterThan(started);
    expect(h.ops()).toEqual(['probe', 'stage', 'activate', 'probe']);
  });

  it('not installed on the host: the file is written, nothing is started, and the host is in sync after', async () => {
    const h = new FakeHost();
    h.write(SITE, 'edited by hand\n');
    const memory = newHostMemory();
    const out = await reconcileHost(fakePool(h), intent, memory, APPLY);
    expect(out.status).toBe('converged');
    expect(out.plan?.services).toEqual([]);
    expect(h.units.has('nginx.service')).toBe(false);
    h.requests.length = 0;
    expect((await reconcileHost(fakePool(h), intent, memory, APPLY)).status).toBe('in-sync');
    expect(h.ops()).toEqual(['probe']);
  });
});

describe('a suspended resource', () => {
  it("keeps its files on the host as they are, and the inventory's record of them", async () => {
    const h = new FakeHost();
    h.write('/etc/motd', 'edited on purpose\n');
    h.write('/etc/old.conf', 'old\n');
    const records = {
      '/etc/motd': { kind: 'File', name: 'motd', original: true },
      '/etc/old.conf': { kind: 'File', name: 'old', original: false },
    };
    h.write(hostLayout.inventory, JSON.stringify({ version: 1, files: records }));
    const intent = intentOf(file('motd', { path: '/etc/motd', suspend: true }));
    const out = await reconcileHost(fakePool(h), intent, newHostMemory(), APPLY);
    expect(out.status).toBe('converged');
    // Only the resource that left the desired state is pruned.
    expect(out.resources).toEqual([
      { kind: 'File', name: 'old', result: 'pruned', message: 'deleted /etc/old.conf' },
    ]);
    expect(h.files.get('/etc/motd')!.content).toBe('edited on purpose\n');
    expect(h.files.has('/etc/old.conf')).toBe(false);
    expect(inventory(h)).toEqual({ '/etc/motd': records['/etc/motd'] });
  });
});
