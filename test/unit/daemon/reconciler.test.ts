import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Reconciler } from '../../../src/daemon/reconciler.js';
import { StatusStore } from '../../../src/daemon/status-store.js';
import type { HostOutcome } from '../../../src/engine/outcome.js';
import type { PassOptions } from '../../../src/engine/reconcile-host.js';
import { createLogger } from '../../../src/observe/logger.js';
import { createMetrics } from '../../../src/observe/metrics.js';
import { fileResource, writeDesiredState } from '../../support/fleet.js';
import { TEST_HOST } from '../../support/intents.js';

// The reconciler's own rules, on a real desired-state directory and real status store and metrics, with the
// pass over a host scripted (no SSH): what it asks of each pass, and what it makes of each outcome.
const HOST = {
  ...TEST_HOST,
  address: '192.0.2.1',
  hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
  identityFile: '/nonexistent/key',
};
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Call {
  apply: boolean;
  content: string;
}

type Scripted = Omit<HostOutcome, 'host' | 'checks' | 'durationMs'>;

function harness(
  outcomes: ((call: Call) => Scripted | Promise<Scripted>)[],
  mode: 'enforce' | 'detect' = 'enforce',
) {
  const dir = mkdtempSync(join(tmpdir(), 'hostop-reconciler-'));
  dirs.push(dir);
  const write = (content: string) =>
    writeDesiredState(dir, [HOST], fileResource('f', [HOST.name], '/etc/f.conf', content));
  write('v1\n');
  const calls: Call[] = [];
  const metrics = createMetrics({ defaultMetrics: false });
  const status = new StatusStore();
  const reconciler = new Reconciler({
    dir,
    mode,
    prune: true,
    resyncMs: 3_600_000,
    concurrency: 1,
    pool: { connection: () => Promise.reject(new Error('no SSH in this test')), retain: () => {} },
    metrics,
    status,
    log: createLogger({ pretty: false, destination: new Writable({ write: (_c, _e, cb) => cb() }) }),
    pass: async (_pool, intent, _memory, opts: PassOptions) => {
      const call = { apply: opts.apply, content: intent.files[0]!.content };
      calls.push(call);
      const next = outcomes[calls.length - 1] ?? (() => ({ status: 'in-sync' as const, resources: [] }));
      return { host: intent.host.name, checks: [], durationMs: 1, ...(await next(call)) };
    },
  });
  const passes = async (n: number) => {
    for (let i = 0; calls.length < n; i++) {
      if (i > 2500) throw new Error(`expected ${n} passes, saw ${calls.length}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { reconciler, calls, status, metrics, write, passes };
}

/** Polls a condition the reconciler reaches asynchronously (after the pass that the test waited for). */
async function waitFor(ok: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; !(await ok()); i++) {
    if (i > 2500) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const rolledBack = {
  status: 'rolled-back' as const,
  resources: [{ kind: 'File', name: 'f', result: 'rolled-back' as const, reason: 'HealthCheckFailed' }],
};

describe('Reconciler rules', () => {
  it('stalls a change that was rolled back: the same intent is only checked, a new one is applied again', async () => {
    const h = harness([() => rolledBack]);
    h.reconciler.start();
    await h.passes(1);
    h.reconciler.resyncAll();
    await h.passes(2);
    // Not retried in a restart loop: the pass after a rollback of this very intent does not apply.
    expect(h.calls.map((c) => c.apply)).toEqual([true, false]);
    expect(h.status.snapshot().events.map((e) => e.reason)).toContain('RolledBack');

    h.write('v2\n');
    await h.reconciler.reload();
    await h.passes(3);
    expect(h.calls[2]).toEqual({ apply: true, content: 'v2\n' });
    await h.reconciler.stop(1000);
  });

  it('the outcome of a pass whose intent changed meanwhile is dropped: the newer pass reports', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const h = harness([
      async () => {
        await gate;
        return rolledBack;
      },
    ]);
    h.reconciler.start();
    await h.passes(1);
    // While the first pass (v1) runs, v2 lands; then the first pass ends in a rollback of v1.
    h.write('v2\n');
    await h.reconciler.reload();
    release();
    await h.passes(2);
    await h.reconciler.stop(1000);
    expect(h.calls).toEqual([
      { apply: true, content: 'v1\n' },
      { apply: true, content: 'v2\n' },
    ]);
    // The stale rollback was never reported: no RolledBack event, the resource Ready from the v2 pass.
    expect(h.status.snapshot().events.map((e) => e.reason)).not.toContain('RolledBack');
    const ready = h.status.conditionsOf({ host: TEST_HOST.name, kind: 'File', name: 'f' });
    expect(ready.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
  });

  it('a validation failure stalls too', async () => {
    const h = harness([
      () => ({
        status: 'degraded',
        resources: [{ kind: 'File', name: 'f', result: 'validation-failed', reason: 'ValidationFailed' }],
      }),
    ]);
    h.reconciler.start();
    await h.passes(1);
    h.reconciler.resyncAll();
    await h.passes(2);
    expect(h.calls.map((c) => c.apply)).toEqual([true, false]);
    await h.reconciler.stop(1000);
  });

  it('detect mode never applies', async () => {
    const h = harness(
      [() => ({ status: 'drifted', resources: [{ kind: 'File', name: 'f', result: 'drifted' }] })],
      'detect',
    );
    h.reconciler.start();
    await h.passes(1);
    h.reconciler.resyncAll();
    await h.passes(2);
    expect(h.calls.map((c) => c.apply)).toEqual([false, false]);
    await h.reconciler.stop(1000);
  });
  it('tells drift from roll-out: a change of a host already in sync with this intent is a corrected drift', async () => {
    const applied = () => ({
      status: 'converged' as const,
      resources: [{ kind: 'File', name: 'f', result: 'applied' as const }],
    });
    const inSync = () => ({ status: 'in-sync' as const, resources: [] });
    const h = harness([applied, inSync, applied, applied]);
    const corrections = async () =>
      (await h.metrics.registry.getSingleMetric('hostop_drift_corrections_total')!.get()).values.reduce(
        (n, v) => n + v.value,
        0,
      );
    const reasons = () => h.status.snapshot().events.map((e) => e.reason);
    h.reconciler.start();
    await h.passes(1);
    // The first apply since start rolls the intent out: no drift.
    h.reconciler.resyncAll();
    await h.passes(2);
    expect(await corrections()).toBe(0);
    h.reconciler.resyncAll();
    await h.passes(3);
    // In sync with v1, then changed back to v1: someone had changed the host.
    await waitFor(async () => (await corrections()) === 1);
    expect(reasons()).toContain('DriftCorrected');
    h.write('v2\n');
    await h.reconciler.reload();
    await h.passes(4);
    // Events fold: the second roll-out counts on the first one's event.
    await waitFor(() => h.status.snapshot().events.find((e) => e.reason === 'Applied')?.count === 2);
    // A new intent applied is a roll-out, however many times it happens.
    expect(await corrections()).toBe(1);
    await h.reconciler.stop(1000);
  });

  it('retries a host whose pass failed with a retryable error, without waiting for the resync', async () => {
    const h = harness([
      () => ({
        status: 'unreachable',
        resources: [],
        error: { code: 'ConnectFailed', message: 'connect ECONNREFUSED', retryable: true },
      }),
    ]);
    h.reconciler.start();
    await h.passes(2);
    expect(h.calls.map((c) => c.apply)).toEqual([true, true]);
    await h.reconciler.stop(1000);
  });
});
