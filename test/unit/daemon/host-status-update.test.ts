import { describe, expect, it } from 'vitest';
import type { HostIntent } from '../../../src/core/model.js';
import { afterPass } from '../../../src/daemon/host-pass-state.js';
import { recordOutcome } from '../../../src/daemon/host-status-update.js';
import { StatusStore } from '../../../src/daemon/status-store.js';
import type { HostOutcome, ResourceOutcome } from '../../../src/engine/outcome.js';
import { createMetrics } from '../../../src/observe/metrics.js';
import { fileIntent, hostIntent } from '../../support/intents.js';

const motd = (content: string): HostIntent =>
  hostIntent([fileIntent({ path: '/etc/motd', content, resource: { kind: 'File', name: 'motd' } })]);
const outcome = (status: HostOutcome['status'], result?: ResourceOutcome['result']): HostOutcome => ({
  host: 'web01',
  status,
  resources: result ? [{ kind: 'File', name: 'motd', result }] : [],
  checks: [],
  durationMs: 5,
});

async function corrections(metrics: ReturnType<typeof createMetrics>): Promise<number> {
  const line = (await metrics.registry.metrics())
    .split('\n')
    .find((l) => l.startsWith('hostop_drift_corrections_total{'));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('recordOutcome: drift corrected or new intent applied', () => {
  it('counts a correction only when the host had moved away from an intent already observed in sync', async () => {
    const status = new StatusStore();
    const metrics = createMetrics({ defaultMetrics: false });
    let inSync: ReadonlyMap<string, string> = new Map();
    // As the reconciler does it: judge against the host's in-sync resources before the pass, record, move on.
    const pass = (o: HostOutcome, intent: HostIntent, revision = 'r1') => {
      const after = afterPass({ inSync }, o, intent, 'hash');
      recordOutcome(o, after.verdicts, { status, metrics, revision, stalled: false });
      inSync = after.state.inSync;
    };
    const reasons = () => status.snapshot().events.map((e) => `${e.reason}x${e.count}`);

    // First pass since start: the file is written. A roll-out, not drift.
    pass(outcome('converged', 'applied'), motd('a\n'));
    expect([await corrections(metrics), reasons()]).toEqual([0, ['Appliedx1']]);

    // Someone edits the file; the next pass restores the same intent: drift, corrected.
    pass(outcome('converged', 'applied'), motd('a\n'));
    expect([await corrections(metrics), reasons()]).toEqual([1, ['Appliedx1', 'DriftCorrectedx1']]);

    // A commit changes the content: applied, still one correction (the HostopDriftRecurring alert stays silent).
    pass(outcome('converged', 'applied'), motd('b\n'), 'r2');
    pass(outcome('converged', 'applied'), motd('c\n'), 'r3');
    expect(await corrections(metrics)).toBe(1);

    // In sync at c, then changed by hand and restored: drift again.
    pass(outcome('in-sync'), motd('c\n'));
    pass(outcome('converged', 'applied'), motd('c\n'));
    expect(await corrections(metrics)).toBe(2);
    const drifted = status.snapshot().resources[0]!.conditions.find((c) => c.type === 'Drifted');
    expect([drifted?.status, drifted?.reason]).toEqual(['False', 'DriftCorrected']);
  });
});
