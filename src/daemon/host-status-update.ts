import { createHash } from 'node:crypto';
import type { HostIntent, ResourceRef } from '../core/model.js';
import type { HostOutcome, ResourceOutcome } from '../engine/outcome.js';
import type { HostopMetrics, ReconcileResult } from '../observe/metrics.js';
import type { StatusStore } from './status-store.js';

/** Every resource that renders something onto the host (files, services, checks), unique, sorted. */
export function resourcesOf(intent: HostIntent): ResourceRef[] {
  const seen = new Map<string, ResourceRef>();
  for (const r of [...intent.files, ...intent.services, ...intent.checks].map((x) => x.resource))
    seen.set(`${r.kind}/${r.name}`, r);
  return [...seen.values()].sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
}

/**
 * A hash per resource (`Kind/name`) of what it renders onto the host. A correction of a resource whose hash
 * was already observed in sync is drift (someone changed the host); any other apply rolls out a new intent.
 */
export function resourceHashes(intent: HostIntent): Map<string, string> {
  const parts = new Map<string, unknown[]>();
  for (const x of [...intent.files, ...intent.services, ...intent.checks]) {
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

/**
 * Turns one host's outcome into conditions, events and metrics. Conditions change their transition time only
 * when their status changes (the store guarantees it); events are recorded for transitions and failures.
 */
export function recordOutcome(
  o: HostOutcome,
  intent: HostIntent,
  ctx: {
    status: StatusStore;
    metrics: HostopMetrics;
    revision?: string;
    stalled: boolean;
    /** This host's resources last observed as desired (`Kind/name` -> resourceHashes); updated here. */
    inSync: Map<string, string>;
  },
): void {
  const { status, metrics } = ctx;
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
  metrics.recordReconcile(reconcileResult(o), o.durationMs / 1000);

  const hashes = resourceHashes(intent);
  for (const ref of resourcesOf(intent)) {
    const key = { host, kind: ref.kind, name: ref.name };
    const id = `${ref.kind}/${ref.name}`;
    const r: ResourceOutcome | undefined = o.resources.find(
      (x) => x.kind === ref.kind && x.name === ref.name,
    );
    const cond = (
      type: 'Ready' | 'Drifted' | 'Stalled',
      st: 'True' | 'False' | 'Unknown',
      reason: string,
      message: string,
    ) => status.setCondition(key, { type, status: st, reason, message, observedRevision: ctx.revision });
    if (!reachable || o.status === 'failed') {
      cond(
        'Ready',
        'Unknown',
        o.error?.code ?? 'Unknown',
        o.error?.message ?? 'host could not be reconciled',
      );
      continue;
    }
    const event = (
      type: 'Normal' | 'Warning',
      reason: Parameters<StatusStore['recordEvent']>[0]['reason'],
      message: string,
    ) => status.recordEvent({ type, reason, host, kind: ref.kind, name: ref.name, message });
    if (!r || r.result === 'unchanged') {
      ctx.inSync.set(id, hashes.get(id)!);
      metrics.setDrifted(host, ref.kind, ref.name, false);
      cond('Drifted', 'False', 'InSync', 'observed as desired');
      cond('Stalled', 'False', 'InSync', '');
      cond('Ready', 'True', 'Converged', 'observed as desired');
      continue;
    }
    if (r.result === 'drifted') {
      metrics.setDrifted(host, ref.kind, ref.name, true);
      const wasDrifted = status.conditionsOf(key).find((c) => c.type === 'Drifted')?.status === 'True';
      cond('Drifted', 'True', 'DriftDetected', r.message ?? 'drift found');
      cond('Ready', 'False', ctx.stalled ? 'Stalled' : 'DriftDetected', r.message ?? 'drift found');
      if (!wasDrifted) event('Warning', 'DriftDetected', r.message ?? 'drift found');
      continue;
    }
    if (r.result === 'applied' || r.result === 'pruned') {
      metrics.setDrifted(host, ref.kind, ref.name, false);
      cond('Stalled', 'False', 'Converged', '');
      cond('Ready', 'True', 'Converged', `applied at revision ${ctx.revision ?? 'unknown'}`);
      if (ctx.inSync.get(id) === hashes.get(id)) {
        // The host had this very intent and moved away from it: drift, corrected.
        metrics.recordDriftCorrected(host, ref.kind);
        cond('Drifted', 'False', 'DriftCorrected', 'corrected');
        event('Normal', 'DriftCorrected', 'drift corrected and verified by a new probe');
      } else {
        // A new intent rolled out (a commit, or the first pass since start): no drift.
        cond('Drifted', 'False', 'InSync', 'observed as desired');
        event(
          'Normal',
          'Applied',
          `revision ${ctx.revision ?? 'unknown'} applied and verified by a new probe`,
        );
      }
      ctx.inSync.set(id, hashes.get(id)!);
      continue;
    }
    if (r.result === 'held') {
      // Not a failed apply: nothing was tried. Stalled until the installed version or the declaration changes.
      const reason = r.reason ?? 'VersionMismatch';
      const message = r.message ?? reason;
      const prior = status.conditionsOf(key).find((c) => c.type === 'Stalled');
      cond('Ready', 'False', reason, message);
      cond('Stalled', 'True', reason, message);
      if (prior?.status !== 'True' || prior.reason !== reason) event('Warning', 'VersionMismatch', message);
      continue;
    }
    metrics.setDrifted(host, ref.kind, ref.name, true);
    metrics.recordApplyFailure(host, ref.kind, r.reason ?? 'Other');
    if (r.result === 'rolled-back') metrics.recordRollback(host, ref.kind);
    const reason =
      r.result === 'rolled-back'
        ? 'RolledBack'
        : r.result === 'validation-failed'
          ? 'ValidationFailed'
          : 'ApplyFailed';
    cond('Ready', 'False', reason, r.message ?? reason);
    cond('Stalled', 'True', reason, `${r.message ?? reason}; retried when the desired state changes`);
    event('Warning', reason, r.message ?? reason);
  }
}
