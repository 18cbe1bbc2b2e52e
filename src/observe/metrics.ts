import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { APPLY_FAILURE_REASONS } from '../engine/outcome.js';

/** Outcome of one host reconcile, the only values `hostop_reconcile_total{result}` takes. */
export type ReconcileResult = 'success' | 'drifted' | 'error' | 'rolled_back';
const RECONCILE_RESULTS: readonly ReconcileResult[] = ['success', 'drifted', 'error', 'rolled_back'];

/** Bounded reasons for `hostop_apply_failures_total`: the engine's own, anything else counted as `Other`. */
const FAILURE_REASONS: ReadonlySet<string> = new Set(APPLY_FAILURE_REASONS);

/** 5 ms .. 5 min: a no-op probe of a near host up to a slow fleet-wide restart with health waits. */
export const RECONCILE_DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];

/** Label value of `hostop_desired_state_info` when the desired-state directory is not a git checkout. */
export const UNKNOWN_REVISION = 'unknown';

/**
 * hostop's own Prometheus metrics. The reconciler talks to this facade only, never to label strings, so the
 * metric names and label sets stay exactly those the alert rules and dashboards expect.
 *
 * Contract: every method is synchronous and never throws for any string input. Label cardinality is bounded
 * by the fleet (hosts × kinds × resource names) plus the fixed `result`/`reason` sets; series of a host or
 * resource that left the desired state disappear after `forgetHost` / `forgetResource`.
 */
export interface HostopMetrics {
  /** The registry holding these metrics and the default process metrics (not prom-client's global one). */
  readonly registry: Registry;
  /** `hostop_host_up{host}`: 1 when the last probe reached the host, else 0. */
  recordProbe(host: string, up: boolean): void;
  /** `hostop_host_key_mismatch{host}`: 1 while the host presents a key other than the pinned one. */
  setHostKeyMismatch(host: string, mismatch: boolean): void;
  /** `hostop_resource_drifted{host,kind,name}`: 1 while the last probe found the resource drifted. */
  setDrifted(host: string, kind: string, name: string, drifted: boolean): void;
  /** `hostop_drift_corrections_total{host,kind}` += 1. */
  recordDriftCorrected(host: string, kind: string): void;
  /** `hostop_rollbacks_total{host,kind}` += 1. */
  recordRollback(host: string, kind: string): void;
  /** `hostop_apply_failures_total{host,kind,reason}` += 1; a reason outside APPLY_FAILURE_REASONS counts as Other. */
  recordApplyFailure(host: string, kind: string, reason: string): void;
  /** `hostop_reconcile_total{result}` += 1 and one observation of `hostop_reconcile_duration_seconds`. */
  recordReconcile(result: ReconcileResult, durationSeconds: number): void;
  /**
   * A desired-state snapshot loaded and validated: `hostop_desired_state_valid` 1, `hostop_desired_state_info`
   * carries only this revision, `hostop_desired_state_last_load_timestamp_seconds` = `at`.
   */
  recordDesiredStateLoaded(revision: string | undefined, at: Date): void;
  /** A snapshot failed to load: `hostop_desired_state_valid` 0; info and timestamp keep the snapshot in force. */
  recordDesiredStateInvalid(): void;
  /** `hostop_host_watch{host,mechanism}`: 1 for the host watch's current state (inotify, poll, starting, none), 0 for the others. */
  setHostWatch(host: string, state: string): void;
  /** `hostop_watch_reports_total{host,outcome}` += 1: a watch report that told the reconciler (`changed`) or was dropped as already seen (`unchanged`). */
  recordWatchReport(host: string, outcome: 'changed' | 'unchanged'): void;
  /** `hostop_workqueue_depth`. */
  setWorkqueueDepth(depth: number): void;
  /**
   * `hostop_host_owned{host}` for every host of the desired state: 1 where this daemon owns the host (alone, every
   * host), 0 where another daemon does or none does; hosts not listed lose their series.
   */
  setOwnership(hosts: readonly { host: string; owned: boolean }[]): void;
  /**
   * Several daemons on etcd: `hostop_coordination_up{member}` 1 while this daemon holds its lease and enforces,
   * else 0; `hostop_cluster_members{member}` the live members it sees. Absent when hostop runs alone.
   */
  setCoordination(member: string, up: boolean, members: number): void;
  /** `hostop_etcd_requests_total{op}` += 1: one request this daemon made of etcd (the cost of sharing the fleet). */
  recordEtcdRequest(op: string): void;
  /** `hostop_ownership_changes_total{change}` += 1: a host this daemon gained or lost. */
  recordOwnershipChange(change: 'gained' | 'lost'): void;
  /** Deletes every series labelled with this host. */
  forgetHost(host: string): void;
  /** Deletes the per-resource series of one resource on one host (per-kind counters stay with the host). */
  forgetResource(host: string, kind: string, name: string): void;
}

/** Creates the metrics on a fresh registry; `defaultMetrics: false` leaves out process metrics. */
export function createMetrics(options: { defaultMetrics?: boolean } = {}): HostopMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false)
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1000 }); // 10 ms precision woke an idle daemon ~100x/s
  const registers = [registry];
  // Created in this order, which is also their order on /metrics.
  const drift = driftMetrics(registers);
  const reach = reachMetrics(registers);
  const passes = passMetrics(registers);
  const failures = failureMetrics(registers);
  const desiredState = desiredStateMetrics(registers);
  const queue = queueMetrics(registers);
  const watch = watchMetrics(registers);
  const cluster = clusterMetrics(registers);
  return {
    ...cluster,
    registry,
    ...drift,
    ...reach,
    ...passes,
    ...failures,
    ...desiredState,
    ...queue,
    ...watch,
    forgetHost(host) {
      for (const group of [drift, failures, reach, watch]) group.forgetHost(host);
    },
  };
}

/** A group's share of `forgetHost`: it deletes the series of the host that the group itself created. */
interface PerHost {
  forgetHost(host: string): void;
}

/**
 * The label sets a group has used, per host: prom-client removes series by exact label set only.
 * Each set is stored as the JSON of its values after `host`.
 */
class SeriesByHost {
  private readonly byHost = new Map<string, Set<string>>();

  add(host: string, ...labels: string[]): void {
    const sets = this.byHost.get(host) ?? new Set<string>();
    sets.add(JSON.stringify(labels));
    this.byHost.set(host, sets);
  }

  /** False when the host never had this label set. */
  delete(host: string, ...labels: string[]): boolean {
    return this.byHost.get(host)?.delete(JSON.stringify(labels)) ?? false;
  }

  /** Forgets the host and returns the label sets it had. */
  take(host: string): string[][] {
    const sets = this.byHost.get(host);
    this.byHost.delete(host);
    return [...(sets ?? [])].map((key) => JSON.parse(key) as string[]);
  }
}

type Registers = Registry[];

/** Drift per resource and its corrections per kind. */
function driftMetrics(
  registers: Registers,
): Pick<HostopMetrics, 'setDrifted' | 'recordDriftCorrected' | 'forgetResource'> & PerHost {
  const drifted = new Gauge({
    name: 'hostop_resource_drifted',
    help: '1 while the last probe found the resource drifted from its desired state.',
    labelNames: ['host', 'kind', 'name'] as const,
    registers,
  });
  const corrections = new Counter({
    name: 'hostop_drift_corrections_total',
    help: 'Drifted resources brought back to their desired state.',
    labelNames: ['host', 'kind'] as const,
    registers,
  });
  const resources = new SeriesByHost();
  const kinds = new SeriesByHost();
  return {
    setDrifted(host, kind, name, isDrifted) {
      resources.add(host, kind, name);
      drifted.set({ host, kind, name }, isDrifted ? 1 : 0);
    },
    recordDriftCorrected(host, kind) {
      kinds.add(host, kind);
      corrections.inc({ host, kind });
    },
    forgetResource(host, kind, name) {
      if (resources.delete(host, kind, name)) drifted.remove({ host, kind, name });
    },
    forgetHost(host) {
      for (const [kind, name] of resources.take(host)) drifted.remove({ host, kind, name });
      for (const [kind] of kinds.take(host)) corrections.remove({ host, kind });
    },
  };
}

/** Whether each host answers, with the key it was pinned to. */
function reachMetrics(
  registers: Registers,
): Pick<HostopMetrics, 'recordProbe' | 'setHostKeyMismatch'> & PerHost {
  const hostUp = new Gauge({
    name: 'hostop_host_up',
    help: '1 when the last probe reached the host over SSH, else 0.',
    labelNames: ['host'] as const,
    registers,
  });
  const keyMismatch = new Gauge({
    name: 'hostop_host_key_mismatch',
    help: '1 while the host presents an SSH host key other than the pinned one.',
    labelNames: ['host'] as const,
    registers,
  });
  return {
    recordProbe(host, up) {
      hostUp.set({ host }, up ? 1 : 0);
    },
    setHostKeyMismatch(host, mismatch) {
      keyMismatch.set({ host }, mismatch ? 1 : 0);
    },
    forgetHost(host) {
      // Removing a label set that was never set is a no-op in prom-client.
      hostUp.remove({ host });
      keyMismatch.remove({ host });
    },
  };
}

/** The per-host watch (issue 14): its mechanism, and what its reports led to. */
function watchMetrics(
  registers: Registers,
): Pick<HostopMetrics, 'setHostWatch' | 'recordWatchReport'> & PerHost {
  const states = ['inotify', 'poll', 'starting', 'none'] as const;
  const mechanism = new Gauge({
    name: 'hostop_host_watch',
    help: "1 for the mechanism of the host's watch (inotify, poll; starting; none: only the resync finds drift there), 0 for the others.",
    labelNames: ['host', 'mechanism'] as const,
    registers,
  });
  const reports = new Counter({
    name: 'hostop_watch_reports_total',
    help: "Host watch reports: changed (a pass was asked for) or unchanged (the last probe had seen it: hostop's own change).",
    labelNames: ['host', 'outcome'] as const,
    registers,
  });
  return {
    setHostWatch(host, state) {
      for (const s of states) mechanism.set({ host, mechanism: s }, s === state ? 1 : 0);
    },
    recordWatchReport(host, outcome) {
      reports.inc({ host, outcome });
    },
    forgetHost(host) {
      for (const s of states) mechanism.remove({ host, mechanism: s });
      for (const outcome of ['changed', 'unchanged']) reports.remove({ host, outcome });
    },
  };
}

/** Host reconciles by result, and how long they take. */
function passMetrics(registers: Registers): Pick<HostopMetrics, 'recordReconcile'> {
  const reconciles = new Counter({
    name: 'hostop_reconcile_total',
    help: 'Host reconciles by result.',
    labelNames: ['result'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'hostop_reconcile_duration_seconds',
    help: 'Duration of one host reconcile (probe, diff, apply, verify).',
    buckets: RECONCILE_DURATION_BUCKETS,
    registers,
  });
  for (const result of RECONCILE_RESULTS) reconciles.inc({ result }, 0);
  return {
    recordReconcile(result, durationSeconds) {
      reconciles.inc({ result });
      // A broken clock reading must not throw out of the reconciler; it is simply not observed.
      if (Number.isFinite(durationSeconds)) duration.observe(Math.max(0, durationSeconds));
    },
  };
}

/** Changes that did not take: rollbacks, and failed applies by bounded reason. */
function failureMetrics(
  registers: Registers,
): Pick<HostopMetrics, 'recordRollback' | 'recordApplyFailure'> & PerHost {
  const rollbacks = new Counter({
    name: 'hostop_rollbacks_total',
    help: 'Changes rolled back because validation or health failed after the swap.',
    labelNames: ['host', 'kind'] as const,
    registers,
  });
  const applyFailures = new Counter({
    name: 'hostop_apply_failures_total',
    help: 'Failed applies by bounded reason.',
    labelNames: ['host', 'kind', 'reason'] as const,
    registers,
  });
  const kinds = new SeriesByHost();
  const failures = new SeriesByHost();
  return {
    recordRollback(host, kind) {
      kinds.add(host, kind);
      rollbacks.inc({ host, kind });
    },
    recordApplyFailure(host, kind, reason) {
      const bounded = FAILURE_REASONS.has(reason) ? reason : 'Other';
      failures.add(host, kind, bounded);
      applyFailures.inc({ host, kind, reason: bounded });
    },
    forgetHost(host) {
      for (const [kind] of kinds.take(host)) rollbacks.remove({ host, kind });
      for (const [kind, reason] of failures.take(host)) applyFailures.remove({ host, kind, reason });
    },
  };
}

/** The desired-state snapshot in force and whether the last load was valid. */
function desiredStateMetrics(
  registers: Registers,
): Pick<HostopMetrics, 'recordDesiredStateLoaded' | 'recordDesiredStateInvalid'> {
  const desiredValid = new Gauge({
    name: 'hostop_desired_state_valid',
    help: '1 when the last load of the desired state was valid, else 0 (the last valid snapshot stays in force).',
    registers,
  });
  const desiredInfo = new Gauge({
    name: 'hostop_desired_state_info',
    help: 'Always 1; the revision label names the desired-state revision in force.',
    labelNames: ['revision'] as const,
    registers,
  });
  const lastLoad = new Gauge({
    name: 'hostop_desired_state_last_load_timestamp_seconds',
    help: 'Unix time of the last successful desired-state load.',
    registers,
  });
  desiredValid.set(0);
  let currentRevision: string | undefined;
  return {
    recordDesiredStateLoaded(revision, at) {
      const label = revision ?? UNKNOWN_REVISION;
      if (currentRevision !== undefined && currentRevision !== label)
        desiredInfo.remove({ revision: currentRevision });
      currentRevision = label;
      desiredInfo.set({ revision: label }, 1);
      desiredValid.set(1);
      lastLoad.set(at.getTime() / 1000);
    },
    recordDesiredStateInvalid() {
      desiredValid.set(0);
    },
  };
}

/** The work queue's backlog. */
function queueMetrics(registers: Registers): Pick<HostopMetrics, 'setWorkqueueDepth'> {
  const depth = new Gauge({
    name: 'hostop_workqueue_depth',
    help: 'Host keys waiting in the work queue (not counting in-flight or delayed ones).',
    registers,
  });
  depth.set(0);
  return {
    setWorkqueueDepth(n) {
      depth.set(n);
    },
  };
}

/** Who owns which host, and the coordination of several daemons (issue 17). */
function clusterMetrics(
  registers: Registers,
): Pick<HostopMetrics, 'setOwnership' | 'setCoordination' | 'recordEtcdRequest' | 'recordOwnershipChange'> {
  const owned = new Gauge({
    name: 'hostop_host_owned',
    help: '1 on the daemon that owns the host (reconciles it), 0 on the others; a host with no 1 anywhere is owned by no one.',
    labelNames: ['host'] as const,
    registers,
  });
  const up = new Gauge({
    name: 'hostop_coordination_up',
    help: 'Several daemons on etcd: 1 while this daemon holds its etcd lease and enforces, 0 while it only detects.',
    labelNames: ['member'] as const,
    registers,
  });
  const members = new Gauge({
    name: 'hostop_cluster_members',
    help: 'Several daemons on etcd: the live members this daemon sees.',
    labelNames: ['member'] as const,
    registers,
  });
  const requests = new Counter({
    name: 'hostop_etcd_requests_total',
    help: 'Requests this daemon made of etcd, by operation.',
    labelNames: ['op'] as const,
    registers,
  });
  const changes = new Counter({
    name: 'hostop_ownership_changes_total',
    help: 'Hosts this daemon gained or lost.',
    labelNames: ['change'] as const,
    registers,
  });
  let known = new Set<string>();
  return {
    setOwnership(hosts) {
      const next = new Set<string>();
      for (const { host, owned: o } of hosts) {
        next.add(host);
        owned.set({ host }, o ? 1 : 0);
      }
      for (const h of known) if (!next.has(h)) owned.remove({ host: h });
      known = next;
    },
    setCoordination(member, isUp, n) {
      up.set({ member }, isUp ? 1 : 0);
      members.set({ member }, n);
    },
    recordEtcdRequest(op) {
      requests.inc({ op });
    },
    recordOwnershipChange(change) {
      changes.inc({ change });
    },
  };
}
