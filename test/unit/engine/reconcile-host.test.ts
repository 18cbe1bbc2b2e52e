import { describe, expect, it } from 'vitest';
import { hostLayout } from '../../../src/apply/host-scripts.js';
import { TransportError } from '../../../src/core/errors.js';
import type { FileIntent, ServiceIntent } from '../../../src/core/model.js';
import { type PassOptions, newHostMemory, reconcileHost } from '../../../src/engine/reconcile-host.js';
import { FakeHost, fakePool } from '../../support/fake-host.js';
import { fileIntent, hostIntent } from '../../support/intents.js';

// The engine's rules on an in-memory host (test/support/fake-host.ts): what a pass asks of the host, in which
// order, and what it leaves there. The shell text of each request is exercised on real hosts by the lab.

const CONF = '/etc/app/app.conf';
const APPLY: PassOptions = { apply: true, prune: true, wantDiffs: false };

function appFile(content: string, over: Partial<FileIntent> = {}): FileIntent {
  return fileIntent({
    path: CONF,
    content,
    notify: ['app.service'],
    resource: { kind: 'File', name: 'app' },
    ...over,
  });
}

function appService(over: Partial<ServiceIntent> = {}): ServiceIntent {
  return {
    unit: 'app.service',
    onChange: 'restart',
    health: { type: 'http', url: 'http://127.0.0.1:8080/health', expectStatus: 200, timeoutMs: 300 },
    resource: { kind: 'Service', name: 'app' },
    ...over,
  };
}

/** A host running app.service, healthy unless its config says "broken". */
function appHost(content?: string): FakeHost {
  const h = new FakeHost();
  if (content !== undefined) h.write(CONF, content);
  h.unit('app.service');
  h.http.set(8080, () => ({
    status:
      h.units.get('app.service')?.active === 'active' && !h.files.get(CONF)?.content.includes('broken')
        ? 200
        : 503,
  }));
  return h;
}

/** The unit of a file change that did not land: nothing wrong of its own (not "failed: NotConverged"). */
const WAITING_SERVICE = {
  kind: 'Service',
  name: 'app',
  result: 'unchanged',
  message: 'app.service: restart: waits for the file change that asks for it',
};

/** One apply pass over `h` with these files and services, from a cold memory. */
const pass = (h: FakeHost, files: FileIntent[], services: ServiceIntent[] = []) =>
  reconcileHost(fakePool(h), hostIntent(files, services), newHostMemory(), APPLY);

const inventory = (h: FakeHost) =>
  JSON.parse(h.files.get(hostLayout.inventory)?.content ?? '{"files":{}}').files;

describe('reconcileHost on an in-memory host', () => {
  it('converges: stages, activates, restarts the notified unit once, and verifies with a second probe', async () => {
    const h = appHost();
    const started = h.units.get('app.service')!.mainStart;
    const out = await pass(h, [appFile('v1\n')], [appService()]);
    expect(out.status).toBe('converged');
    expect(out.resources).toEqual([
      { kind: 'File', name: 'app', result: 'applied' },
      { kind: 'Service', name: 'app', result: 'applied' },
    ]);
    expect(h.ops()).toEqual(['probe', 'stage', 'activate', 'probe']);
    expect(h.files.get(CONF)).toMatchObject({ content: 'v1\n', mode: '0644', owner: 'root' });
    expect(h.files.has(hostLayout.candidate(CONF))).toBe(false);
    expect(h.units.get('app.service')!.mainStart).toBeGreaterThan(started);
    expect(inventory(h)).toEqual({ [CONF]: { kind: 'File', name: 'app', original: false } });
  });

  it('a warm pass over a host in sync is one probe', async () => {
    const h = appHost();
    const intent = hostIntent([appFile('v1\n')], [appService()]);
    const memory = newHostMemory();
    await reconcileHost(fakePool(h), intent, memory, APPLY);
    h.requests.length = 0;
    const out = await reconcileHost(fakePool(h), intent, memory, APPLY);
    expect(out.status).toBe('in-sync');
    expect(h.ops()).toEqual(['probe']);
  });

  it('a candidate its validator rejects never replaces the target, and nothing restarts', async () => {
    const h = appHost('v1\n');
    const started = h.units.get('app.service')!.mainStart;
    h.validator = () => ({ code: 1, output: 'line 3: unknown key' });
    const validate = { argv: ['app', '--check', '{}'], timeoutMs: 5000 };
    const out = await pass(h, [appFile('v2\n', { validate })], [appService()]);
    expect(out.resources).toEqual([
      {
        kind: 'File',
        name: 'app',
        result: 'validation-failed',
        reason: 'ValidationFailed',
        message: `${CONF}: validator exited 1: line 3: unknown key`,
      },
      WAITING_SERVICE,
    ]);
    expect(out.status).toBe('degraded');
    expect(h.files.get(CONF)!.content).toBe('v1\n');
    expect(h.files.has(hostLayout.candidate(CONF))).toBe(false);
    expect(h.units.get('app.service')!.mainStart).toBe(started);
  });

  it('a change that fails its health check is rolled back: the old file again, and a second restart', async () => {
    const h = appHost('v1\n');
    const started = h.units.get('app.service')!.mainStart;
    const out = await pass(h, [appFile('broken\n')], [appService()]);
    expect(out.status).toBe('rolled-back');
    expect(out.resources).toEqual([
      expect.objectContaining({
        kind: 'File',
        name: 'app',
        result: 'rolled-back',
        reason: 'HealthCheckFailed',
      }),
      WAITING_SERVICE,
    ]);
    expect(out.resources[0]!.message).toMatch(
      /restored the previous files and restarted it; app.service is healthy again$/,
    );
    expect(h.files.get(CONF)!.content).toBe('v1\n');
    expect(h.ops()).toEqual(['probe', 'stage', 'activate', 'restore', 'probe']);
    // Two restarts: the one that failed health, the one on the restored file.
    expect(h.units.get('app.service')!.mainStart).toBeGreaterThanOrEqual(started + 2);
    // The path was the host's before hostop managed it, and the rollback left it so in the inventory.
    expect(inventory(h)).toEqual({});
  });

  it('a reload systemctl refuses is rolled back too (ReloadFailed)', async () => {
    const h = appHost('v1\n');
    h.unitHook = (_u, action) =>
      action === 'reload' ? { code: 1, output: 'Job type reload is not applicable' } : undefined;
    const out = await pass(h, [appFile('v2\n')], [appService({ onChange: 'reload', health: undefined })]);
    expect(out.resources[0]).toMatchObject({ result: 'rolled-back', reason: 'ReloadFailed' });
    expect(out.resources[0]!.message).toContain(
      'systemctl reload exited 1 (Job type reload is not applicable)',
    );
    expect(h.files.get(CONF)!.content).toBe('v1\n');
  });

  it('a mode drift is fixed in place: no stage, no restart', async () => {
    const h = appHost('v1\n');
    h.files.get(CONF)!.mode = '0666';
    const started = h.units.get('app.service')!.mainStart;
    const out = await pass(h, [appFile('v1\n')], [appService()]);
    expect(out.status).toBe('converged');
    expect(h.ops()).toEqual(['probe', 'activate', 'probe']);
    expect(h.files.get(CONF)!.mode).toBe('0644');
    expect(h.units.get('app.service')!.mainStart).toBe(started);
  });

  it('a unit stopped by hand is started again', async () => {
    const h = appHost('v1\n');
    h.units.get('app.service')!.active = 'inactive';
    const out = await pass(h, [appFile('v1\n')], [appService({ state: 'running' })]);
    expect(out.status).toBe('converged');
    expect(h.units.get('app.service')!.active).toBe('active');
  });

  it('prunes what left the desired state: a file hostop created is deleted, one it replaced gets its original back', async () => {
    const h = appHost();
    h.write('/etc/app/defaults.conf', 'distro default\n');
    const memory = newHostMemory();
    const both = hostIntent([
      appFile('v1\n', { notify: [] }),
      fileIntent({
        path: '/etc/app/defaults.conf',
        content: 'ours\n',
        resource: { kind: 'File', name: 'defaults' },
      }),
    ]);
    expect((await reconcileHost(fakePool(h), both, memory, APPLY)).status).toBe('converged');
    expect(inventory(h)).toEqual({
      [CONF]: { kind: 'File', name: 'app', original: false },
      '/etc/app/defaults.conf': { kind: 'File', name: 'defaults', original: true },
    });
    const out = await reconcileHost(fakePool(h), hostIntent([]), memory, APPLY);
    expect(out.resources).toEqual([
      { kind: 'File', name: 'app', result: 'pruned', message: `deleted ${CONF}` },
      {
        kind: 'File',
        name: 'defaults',
        result: 'pruned',
        message: 'restored the original /etc/app/defaults.conf',
      },
    ]);
    expect(h.files.has(CONF)).toBe(false);
    expect(h.files.get('/etc/app/defaults.conf')!.content).toBe('distro default\n');
    expect(inventory(h)).toEqual({});
  });

  it("a file found already as desired is recorded as hostop's when the inventory is next written", async () => {
    const h = appHost('v1\n');
    const other = fileIntent({
      path: '/etc/app/b.conf',
      content: 'b\n',
      resource: { kind: 'File', name: 'b' },
    });
    await pass(h, [appFile('v1\n'), other]);
    expect(inventory(h)).toEqual({
      [CONF]: { kind: 'File', name: 'app', original: true },
      '/etc/app/b.conf': { kind: 'File', name: 'b', original: false },
    });
  });

  it('without prune, what left the desired state stays', async () => {
    const h = appHost();
    const memory = newHostMemory();
    await reconcileHost(fakePool(h), hostIntent([appFile('v1\n', { notify: [] })]), memory, APPLY);
    const out = await reconcileHost(fakePool(h), hostIntent([]), memory, { ...APPLY, prune: false });
    expect(out.status).toBe('in-sync');
    expect(h.files.get(CONF)!.content).toBe('v1\n');
  });

  it('a connection lost before the rename leaves the target whole; the next pass converges and clears the candidate', async () => {
    const h = appHost('v1\n');
    h.before = (r) => {
      if (r.op === 'activate') throw new TransportError('ConnectionLost', 'connection reset', true);
    };
    const intent = hostIntent([appFile('v2\n')], [appService()]);
    const memory = newHostMemory();
    const lost = await reconcileHost(fakePool(h), intent, memory, APPLY);
    expect(lost).toMatchObject({ status: 'failed', error: { code: 'ConnectionLost', retryable: true } });
    expect(h.files.get(CONF)!.content).toBe('v1\n');
    expect(h.files.get(hostLayout.candidate(CONF))!.content).toBe('v2\n');
    h.before = () => undefined;
    expect((await reconcileHost(fakePool(h), intent, memory, APPLY)).status).toBe('converged');
    expect(h.files.get(CONF)!.content).toBe('v2\n');
    expect(h.files.has(hostLayout.candidate(CONF))).toBe(false);
  });

  it('a candidate left by a lost pass is removed even when there is nothing to write', async () => {
    const h = appHost('v1\n');
    h.write(hostLayout.candidate(CONF), 'v0\n');
    const out = await pass(h, [appFile('v1\n')], [appService()]);
    expect(out.status).toBe('in-sync');
    expect(h.ops()).toEqual(['probe', 'unstage']);
    expect(h.files.has(hostLayout.candidate(CONF))).toBe(false);
  });

  it('detect mode reports drift and changes nothing', async () => {
    const h = appHost('hand edit\n');
    const out = await reconcileHost(
      fakePool(h),
      hostIntent([appFile('v1\n')], [appService()]),
      newHostMemory(),
      {
        ...APPLY,
        apply: false,
      },
    );
    expect(out.status).toBe('drifted');
    expect(out.resources).toEqual([
      { kind: 'File', name: 'app', result: 'drifted', message: `${CONF}: update (content)` },
      { kind: 'Service', name: 'app', result: 'drifted', message: 'app.service: restart' },
    ]);
    expect(h.ops()).toEqual(['probe']);
    expect(h.files.get(CONF)!.content).toBe('hand edit\n');
  });

  it('a host that cannot be reached is unreachable, with the transport error', async () => {
    const out = await reconcileHost(fakePool(), hostIntent([appFile('v1\n')]), newHostMemory(), APPLY);
    expect(out).toMatchObject({ status: 'unreachable', error: { code: 'ConnectFailed', retryable: true } });
  });

  it('a pass whose signal fires stops where it is: the host keeps its old file', async () => {
    const h = appHost('v1\n');
    h.before = (r) => (r.op === 'stage' ? new Promise<void>(() => {}) : undefined);
    const out = await reconcileHost(
      fakePool(h),
      hostIntent([appFile('v2\n')], [appService()]),
      newHostMemory(),
      {
        ...APPLY,
        signal: AbortSignal.timeout(50),
      },
    );
    expect(out.status).toBe('failed');
    expect(h.ops()).toEqual(['probe']);
    expect(h.files.get(CONF)!.content).toBe('v1\n');
  });
});
