import { describe, expect, it } from 'vitest';
import { RECONCILE_DURATION_BUCKETS, createMetrics } from '../../../src/observe/metrics.js';

/** Sample lines (no HELP/TYPE) of the exposition text whose metric name starts with `prefix`. */
async function samples(metrics: ReturnType<typeof createMetrics>, prefix: string): Promise<string[]> {
  const text = await metrics.registry.metrics();
  return text.split('\n').filter((l) => l.startsWith(prefix) && !l.startsWith('#'));
}

describe('createMetrics', () => {
  it('exposes exactly the fixed names, pre-initialised where the design says so', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const text = await m.registry.metrics();
    const names = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((r) => `${r[1]} ${r[2]}`);
    expect(names.sort()).toEqual(
      [
        'hostop_apply_failures_total counter',
        'hostop_desired_state_info gauge',
        'hostop_desired_state_last_load_timestamp_seconds gauge',
        'hostop_desired_state_valid gauge',
        'hostop_drift_corrections_total counter',
        'hostop_host_key_mismatch gauge',
        'hostop_host_up gauge',
        'hostop_reconcile_duration_seconds histogram',
        'hostop_reconcile_total counter',
        'hostop_resource_drifted gauge',
        'hostop_rollbacks_total counter',
        'hostop_workqueue_depth gauge',
        'hostop_host_watch gauge',
        'hostop_watch_reports_total counter',
        'hostop_host_owned gauge',
        'hostop_coordination_up gauge',
        'hostop_cluster_members gauge',
        'hostop_etcd_requests_total counter',
        'hostop_ownership_changes_total counter',
      ].sort(),
    );
    expect(await samples(m, 'hostop_reconcile_total')).toEqual([
      'hostop_reconcile_total{result="success"} 0',
      'hostop_reconcile_total{result="drifted"} 0',
      'hostop_reconcile_total{result="error"} 0',
      'hostop_reconcile_total{result="rolled_back"} 0',
    ]);
    expect(await samples(m, 'hostop_desired_state_valid')).toEqual(['hostop_desired_state_valid 0']);
    expect(await samples(m, 'hostop_workqueue_depth')).toEqual(['hostop_workqueue_depth 0']);
  });

  it('lists the families on /metrics in a fixed order', async () => {
    const text = await createMetrics({ defaultMetrics: false }).registry.metrics();
    expect([...text.matchAll(/^# HELP (\S+) /gm)].map((r) => r[1])).toEqual([
      'hostop_resource_drifted',
      'hostop_drift_corrections_total',
      'hostop_host_up',
      'hostop_host_key_mismatch',
      'hostop_reconcile_total',
      'hostop_reconcile_duration_seconds',
      'hostop_rollbacks_total',
      'hostop_apply_failures_total',
      'hostop_desired_state_valid',
      'hostop_desired_state_info',
      'hostop_desired_state_last_load_timestamp_seconds',
      'hostop_workqueue_depth',
      'hostop_host_watch',
      'hostop_watch_reports_total',
      'hostop_host_owned',
      'hostop_coordination_up',
      'hostop_cluster_members',
      'hostop_etcd_requests_total',
      'hostop_ownership_changes_total',
    ]);
  });

  it('says who owns each host of the desired state, and forgets hosts that left', async () => {
    const m = createMetrics({ defaultMetrics: false });
    expect(await samples(m, 'hostop_coordination_up')).toEqual([]); // alone: no coordination series at all
    m.setOwnership([
      { host: 'a', owned: true },
      { host: 'b', owned: false },
    ]);
    expect(await samples(m, 'hostop_host_owned')).toEqual([
      'hostop_host_owned{host="a"} 1',
      'hostop_host_owned{host="b"} 0',
    ]);
    m.setOwnership([{ host: 'b', owned: true }]);
    expect(await samples(m, 'hostop_host_owned')).toEqual(['hostop_host_owned{host="b"} 1']);
    m.setCoordination('m1', false, 3);
    expect(await samples(m, 'hostop_coordination_up')).toEqual(['hostop_coordination_up{member="m1"} 0']);
    expect(await samples(m, 'hostop_cluster_members')).toEqual(['hostop_cluster_members{member="m1"} 3']);
  });

  it('includes default process metrics on its own registry, not the global one', async () => {
    const m = createMetrics();
    const text = await m.registry.metrics();
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).toContain('nodejs_heap_size_used_bytes');
    const { register } = await import('prom-client');
    expect(register.getSingleMetric('hostop_host_up')).toBeUndefined();
    expect(m.registry.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('records probes, drift, corrections, rollbacks and failures with the right labels', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recordProbe('web01', true);
    m.recordProbe('web02', false);
    m.setHostKeyMismatch('web02', true);
    m.setDrifted('web01', 'File', 'motd', true);
    m.setDrifted('web01', 'File', 'motd', false);
    m.recordDriftCorrected('web01', 'File');
    m.recordDriftCorrected('web01', 'File');
    m.recordRollback('web01', 'OtelCollector');
    m.recordApplyFailure('web01', 'OtelCollector', 'HealthCheckFailed');
    m.recordApplyFailure('web01', 'OtelCollector', 'ENOSPC: no space left');
    m.recordApplyFailure('web01', 'OtelCollector', 'a message with a secret');
    expect(await samples(m, 'hostop_host_up')).toEqual([
      'hostop_host_up{host="web01"} 1',
      'hostop_host_up{host="web02"} 0',
    ]);
    expect(await samples(m, 'hostop_host_key_mismatch')).toEqual([
      'hostop_host_key_mismatch{host="web02"} 1',
    ]);
    expect(await samples(m, 'hostop_resource_drifted')).toEqual([
      'hostop_resource_drifted{host="web01",kind="File",name="motd"} 0',
    ]);
    expect(await samples(m, 'hostop_drift_corrections_total')).toEqual([
      'hostop_drift_corrections_total{host="web01",kind="File"} 2',
    ]);
    expect(await samples(m, 'hostop_rollbacks_total')).toEqual([
      'hostop_rollbacks_total{host="web01",kind="OtelCollector"} 1',
    ]);
    expect(await samples(m, 'hostop_apply_failures_total')).toEqual([
      'hostop_apply_failures_total{host="web01",kind="OtelCollector",reason="HealthCheckFailed"} 1',
      'hostop_apply_failures_total{host="web01",kind="OtelCollector",reason="Other"} 2',
    ]);
  });

  it('records reconciles into the 5 ms .. 5 min histogram', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recordReconcile('success', 0.003);
    m.recordReconcile('drifted', 42);
    m.recordReconcile('error', Number.NaN);
    expect(RECONCILE_DURATION_BUCKETS[0]).toBe(0.005);
    expect(RECONCILE_DURATION_BUCKETS.at(-1)).toBe(300);
    const lines = await samples(m, 'hostop_reconcile');
    expect(lines).toContain('hostop_reconcile_total{result="success"} 1');
    expect(lines).toContain('hostop_reconcile_total{result="error"} 1');
    expect(lines).toContain('hostop_reconcile_duration_seconds_bucket{le="0.005"} 1');
    expect(lines).toContain('hostop_reconcile_duration_seconds_bucket{le="30"} 1');
    expect(lines).toContain('hostop_reconcile_duration_seconds_bucket{le="60"} 2');
    expect(lines).toContain('hostop_reconcile_duration_seconds_count 2');
  });

  it('keeps exactly one desired_state_info series, and keeps it when a load is invalid', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recordDesiredStateLoaded('abc123', new Date(1_700_000_000_000));
    m.recordDesiredStateLoaded('def456-dirty', new Date(1_700_000_060_000));
    m.recordDesiredStateInvalid();
    expect(await samples(m, 'hostop_desired_state_info')).toEqual([
      'hostop_desired_state_info{revision="def456-dirty"} 1',
    ]);
    expect(await samples(m, 'hostop_desired_state_valid')).toEqual(['hostop_desired_state_valid 0']);
    expect(await samples(m, 'hostop_desired_state_last_load_timestamp_seconds')).toEqual([
      'hostop_desired_state_last_load_timestamp_seconds 1700000060',
    ]);
    m.recordDesiredStateLoaded(undefined, new Date(1_700_000_120_000));
    expect(await samples(m, 'hostop_desired_state_info')).toEqual([
      'hostop_desired_state_info{revision="unknown"} 1',
    ]);
    expect(await samples(m, 'hostop_desired_state_valid')).toEqual(['hostop_desired_state_valid 1']);
  });

  it('forgetResource and forgetHost delete stale series and nothing else', async () => {
    const m = createMetrics({ defaultMetrics: false });
    for (const host of ['web01', 'web02']) {
      m.recordProbe(host, true);
      m.setHostKeyMismatch(host, false);
      m.setDrifted(host, 'File', 'a', true);
      m.setDrifted(host, 'File', 'b', false);
      m.recordDriftCorrected(host, 'File');
      m.recordRollback(host, 'Service');
      m.recordApplyFailure(host, 'File', 'Timeout');
      m.setHostWatch(host, 'inotify');
      m.recordWatchReport(host, 'unchanged');
    }
    expect(await samples(m, 'hostop_host_watch{host="web02"')).toEqual([
      'hostop_host_watch{host="web02",mechanism="inotify"} 1',
      'hostop_host_watch{host="web02",mechanism="poll"} 0',
      'hostop_host_watch{host="web02",mechanism="starting"} 0',
      'hostop_host_watch{host="web02",mechanism="none"} 0',
    ]);
    m.forgetResource('web01', 'File', 'a');
    m.forgetResource('web01', 'File', 'never-seen');
    expect(await samples(m, 'hostop_resource_drifted{host="web01"')).toEqual([
      'hostop_resource_drifted{host="web01",kind="File",name="b"} 0',
    ]);
    m.forgetHost('web01');
    m.forgetHost('never-seen');
    const text = await m.registry.metrics();
    expect(text).not.toContain('web01');
    expect(text.match(/host="web02"/g)).toHaveLength(12);
  });
});
