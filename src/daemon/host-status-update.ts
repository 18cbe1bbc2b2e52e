import { createHash } from 'node:crypto';
import type { HostIntent, ResourceRef } from '../core/model.js';
import type { HostOutcome, ResourceOutcome } from '../engine/outcome.js';
import type { HostopMetrics, ReconcileResult } from '../observe/metrics.js';
import { type Condition, type ConditionUpdate, getCondition } from './conditions.js';
import type { ResourceKey, StatusEvent } from './status-document.js';
import type { StatusStore } from './status-store.js';

/** Every resource that renders something onto the host (files, services, checks), unique, sorted. */
export function resourcesOf(intent: HostIntent): ResourceRef[] {
  const seen = new Map<string, ResourceRef>();
  for (const r of [...intent.files, ...intent.services, ...intent.checks, ...(intent.packages ?? [])].map(
    (x) => x.resource,
  ))
    seen.set(`${r.kind}/${r.name}`, r);
  return [...seen.values()].sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
}

/**
 * A hash per resource (`Kind/name`) of what it renders onto the host. A correction of a resource whose hash
 * was already observed in sync is drift (someone changed the host); any other apply rolls out a new intent.
 */
export function resourceHashes(intent: HostIntent): Map<string, string> {
  const parts = new Map<string, unknown[]>();
  for (const x of [...intent.files, ...intent.services, ...intent.checks, ...(intent.packages ?? [])]) {
    const k = `${x.resource.kind}/${x.resource.name}`;
    const list = parts.get(k) ?? [];
    list.push(x);
    parts.set(k, list);
  }
  return new Map(
    [...parts].map(([k, v]) => [k, createHash('sha256').update(JSON.stringify(v)).digest('hex')]),
  );
}

/** The controller-runtime-style result label of a pass. */
export function reconcileResult(o: HostOutcome): ReconcileResult {
  if (o.status === 'rolled-back') return 'rolled_back';
  if (o.status === 'drifted') return 'drifted';
  if (o.status === 'in-sync' || o.status === 'converged') return 'success';
  return 'error';
}

/** What one pass means for one resource, decided before anything is recorded. */
export type Verdict =
  /** The host could not be reached or the pass failed as a whole: nothing is known of the resource. */
  | { is: 'unknown'; reason: string; message: string }
  /** Observed as desired; nothing was done. */
  | { is: 'in-sync' }
  /** Not as desired, and not changed (detect mode, or a stalled intent). */
  | { is: 'drifted'; message: string }
  /** Applied and verified; the host had this very intent in sync before, so someone changed the host. */
  | { is: 'drift-corrected' }
  /** Applied and verified; a new intent (a commit, or the first apply since start), so no drift. */
  | { is: 'rolled-out' }
  /**
   * Left alone: its component's installed version is not the declared one. Not a failed apply, nothing was tried:
   * stalled until the installed version or the declaration changes.
   */
  | { is: 'held'; reason: string; message: string }
  /** The change failed, and was rolled back where it got that far. */
  | {
      is: 'failed';
      reason: 'RolledBack' | 'ValidationFailed' | 'ApplyFailed';
      /** The engine's reason, for `hostop_apply_failures_total`. */
      failure: string;
      message: string;
    };

export interface ResourceVerdict {
  ref: ResourceRef;
  /** `Kind/name`: the key of resourceHashes and of the in-sync map. */
  id: string;
  /** resourceHashes of the resource in this pass's intent. */
  hash: string;
  verdict: Verdict;
}

/**
 * The verdict for every resource of the intent. `inSync` is the host's resources last observed as desired
 * (`Kind/name` -> resourceHashes) before this pass: it tells drift corrections from roll-outs. Pure.
 */
export function resourceVerdicts(
  o: HostOutcome,
  intent: HostIntent,
  inSync: ReadonlyMap<string, string>,
): ResourceVerdict[] {
  const hashes = resourceHashes(intent);
  return resourcesOf(intent).map((ref) => {
    const id = `${ref.kind}/${ref.name}`;
    const hash = hashes.get(id)!;
    const r = o.resources.find((x) => x.kind === ref.kind && x.name === ref.name);
    return { ref, id, hash, verdict: verdictOf(o, r, inSync.get(id) === hash) };
  });
}

function verdictOf(o: HostOutcome, r: ResourceOutcome | undefined, wasInSync: boolean): Verdict {
  if (o.status === 'unreachable' || o.status === 'failed')
    return {
      is: 'unknown',
      reason: o.error?.code ?? 'Unknown',
      message: o.error?.message ?? 'host could not be reconciled',
    };
  if (!r || r.result === 'unchanged') return { is: 'in-sync' };
  if (r.result === 'drifted') return { is: 'drifted', message: r.message ?? 'drift found' };
  if (r.result === 'applied' || r.result === 'pruned')
    return { is: wasInSync ? 'drift-corrected' : 'rolled-out' };
  if (r.result === 'held') {
    const reason = r.reason ?? 'VersionMismatch';
    return { is: 'held', reason, message: r.message ?? reason };
  }
  const reason =
    r.result === 'rolled-back'
      ? 'RolledBack'
      : r.result === 'validation-failed'
        ? 'ValidationFailed'
        : 'ApplyFailed';
  return { is: 'failed', reason, failure: r.reason ?? 'Other', message: r.message ?? reason };
}

/** Whether the pass observed the resource as desired: the in-sync map takes its hash. */
export function observedAsDesired(v: Verdict): boolean {
  return v.is === 'in-sync' || v.is === 'drift-corrected' || v.is === 'rolled-out';
}

interface RecordContext {
  status: StatusStore;
  metrics: HostopMetrics;
  revision?: string;
  stalled: boolean;
}

/**
 * Turns one host's outcome into conditions, events and metrics. Conditions change their transition time only
 * when their status changes (the store guarantees it); events are recorded for transitions and failures.
 */
export function recordOutcome(o: HostOutcome, verdicts: ResourceVerdict[], ctx: RecordContext): void {
  recordReachability(o, ctx.status, ctx.metrics);
  ctx.metrics.recordReconcile(reconcileResult(o), o.durationMs / 1000);
  for (const v of verdicts) recordResource(o.host, v, ctx);
}

/** Whether the host answered (and with the pinned key), with an event when that changes. */
function recordReachability(o: HostOutcome, status: StatusStore, metrics: HostopMetrics): void {
  const host = o.host;
  const reachable = o.status !== 'unreachable';
  const wasReachable = status.hostReachable(host);
  metrics.recordProbe(host, reachable);
  metrics.setHostKeyMismatch(host, o.error?.code === 'HostKeyMismatch');
  status.recordHostProbe(host, {
    reachable,
    error: o.error && { code: o.error.code, message: o.error.message },
  });
  if (!reachable && wasReachable !== false) {
    status.recordEvent({
      type: 'Warning',
      reason: o.error?.code === 'HostKeyMismatch' ? 'HostKeyMismatch' : 'HostUnreachable',
      host,
      message: o.error?.message ?? 'unreachable',
    });
  } else if (reachable && wasReachable === false) {
    status.recordEvent({
      type: 'Normal',
      reason: 'HostReachable',
      host,
      message: `${host} is reachable again`,
    });
  }
}

function recordResource(host: string, { ref, verdict }: ResourceVerdict, ctx: RecordContext): void {
  const key = { host, kind: ref.kind, name: ref.name };
  // Read before this pass's updates: drift and holds are events only when they begin.
  const prior = ctx.status.conditionsOf(key);
  recordResourceMetrics(ctx.metrics, key, verdict);
  for (const c of resourceConditions(verdict, ctx.revision, ctx.stalled))
    ctx.status.setCondition(key, { ...c, observedRevision: ctx.revision });
  const event = resourceEvent(verdict, prior, ctx.revision);
  if (event)
    ctx.status.recordEvent({ type: event.type, reason: event.reason, ...key, message: event.message });
}

function recordResourceMetrics(metrics: HostopMetrics, key: ResourceKey, v: Verdict): void {
  if (v.is === 'unknown' || v.is === 'held') return;
  metrics.setDrifted(key.host, key.kind, key.name, v.is === 'drifted' || v.is === 'failed');
  if (v.is === 'drift-corrected') metrics.recordDriftCorrected(key.host, key.kind);
  if (v.is === 'failed') {
    metrics.recordApplyFailure(key.host, key.kind, v.failure);
    if (v.reason === 'RolledBack') metrics.recordRollback(key.host, key.kind);
  }
}

type ConditionSet = Omit<ConditionUpdate, 'observedRevision'>;

/** The conditions a verdict sets, in the order they are set. */
function resourceConditions(v: Verdict, revision: string | undefined, stalled: boolean): ConditionSet[] {
  const applied = `applied at revision ${revision ?? 'unknown'}`;
  switch (v.is) {
    case 'unknown':
      return [{ type: 'Ready', status: 'Unknown', reason: v.reason, message: v.message }];
    case 'in-sync':
      return [
        { type: 'Drifted', status: 'False', reason: 'InSync', message: 'observed as desired' },
        { type: 'Stalled', status: 'False', reason: 'InSync', message: '' },
        { type: 'Ready', status: 'True', reason: 'Converged', message: 'observed as desired' },
      ];
    case 'drifted':
      return [
        { type: 'Drifted', status: 'True', reason: 'DriftDetected', message: v.message },
        { type: 'Ready', status: 'False', reason: stalled ? 'Stalled' : 'DriftDetected', message: v.message },
      ];
    case 'drift-corrected':
    case 'rolled-out':
      return [
        { type: 'Stalled', status: 'False', reason: 'Converged', message: '' },
        { type: 'Ready', status: 'True', reason: 'Converged', message: applied },
        v.is === 'drift-corrected'
          ? { type: 'Drifted', status: 'False', reason: 'DriftCorrected', message: 'corrected' }
          : { type: 'Drifted', status: 'False', reason: 'InSync', message: 'observed as desired' },
      ];
    case 'held':
      return [
        { type: 'Ready', status: 'False', reason: v.reason, message: v.message },
        { type: 'Stalled', status: 'True', reason: v.reason, message: v.message },
      ];
    case 'failed':
      return [
        { type: 'Ready', status: 'False', reason: v.reason, message: v.message },
        {
          type: 'Stalled',
          status: 'True',
          reason: v.reason,
          message: `${v.message}; retried when the desired state changes`,
        },
      ];
  }
}

type ResourceEvent = Pick<StatusEvent, 'type' | 'reason' | 'message'>;

/** The event a verdict records, if any; `prior` are the resource's conditions before this pass. */
function resourceEvent(
  v: Verdict,
  prior: readonly Condition[],
  revision: string | undefined,
): ResourceEvent | undefined {
  switch (v.is) {
    case 'unknown':
    case 'in-sync':
      return undefined;
    case 'drifted':
      return getCondition(prior, 'Drifted')?.status === 'True'
        ? undefined
        : { type: 'Warning', reason: 'DriftDetected', message: v.message };
    case 'drift-corrected':
      return {
        type: 'Normal',
        reason: 'DriftCorrected',
        message: 'drift corrected and verified by a new probe',
      };
    case 'rolled-out':
      return {
        type: 'Normal',
        reason: 'Applied',
        message: `revision ${revision ?? 'unknown'} applied and verified by a new probe`,
      };
    case 'held': {
      const stall = getCondition(prior, 'Stalled');
      return stall?.status === 'True' && stall.reason === v.reason
        ? undefined
        : { type: 'Warning', reason: 'VersionMismatch', message: v.message };
    }
    case 'failed':
      return { type: 'Warning', reason: v.reason, message: v.message };
  }
}
