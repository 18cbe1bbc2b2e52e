import type { HostIntent } from '../core/model.js';
import type { HostOutcome } from '../engine/outcome.js';
import { type ResourceVerdict, observedAsDesired, resourceVerdicts } from './host-status-update.js';

/** What the reconciler remembers of one host from one pass to the next (besides its status and metrics). */
export interface HostPassState {
  /**
   * The intent hash at which a change failed validation or health. While the host's intent has this hash, passes
   * only check it: applying it again would restart the service into the same failure.
   */
  stalledAt?: string;
  /**
   * The host's resources last observed as desired (`Kind/name` -> resourceHashes): an apply of a resource whose
   * hash is here corrects drift, any other apply rolls out a new intent. In memory only: after a restart, the
   * first apply of each resource counts as a roll-out.
   */
  inSync: ReadonlyMap<string, string>;
}

/** What one pass leaves behind, for the reconciler to apply: nothing here has been done yet. */
export interface PassAftermath {
  /** The host's state for the next pass. */
  state: HostPassState;
  /** What the pass means for each resource of the intent (judged against the previous in-sync map), to record. */
  verdicts: ResourceVerdict[];
  /** Set when the work queue should retry the host with backoff (unless `retryable` is false): why the pass failed. */
  retry?: { code: string; message: string; retryable: boolean };
  /** How loud the pass's log line is: quiet when nothing happened, a warning when something went wrong. */
  logLevel: 'debug' | 'info' | 'warn';
}

/**
 * The reconciler's rules for a pass over `intent` (whose hash is `intentHash`), as a function of the host's previous
 * state and the pass's outcome. Pure: the caller records the outcome and applies the result.
 */
export function afterPass(
  prev: HostPassState,
  outcome: HostOutcome,
  intent: HostIntent,
  intentHash: string,
): PassAftermath {
  const verdicts = resourceVerdicts(outcome, intent, prev.inSync);
  return {
    state: {
      stalledAt: nextStalledAt(prev.stalledAt, outcome, intentHash),
      inSync: nextInSync(prev.inSync, verdicts),
    },
    verdicts,
    retry: retryOf(outcome),
    logLevel: logLevelOf(outcome),
  };
}

/**
 * A rollback or a failed validation stalls this very intent; a pass that observed the host as desired ends the
 * stall; any other outcome (drift in detect mode, an unreachable host) leaves it as it was.
 */
function nextStalledAt(prev: string | undefined, o: HostOutcome, intentHash: string): string | undefined {
  if (o.status === 'rolled-back' || o.resources.some((r) => r.result === 'validation-failed'))
    return intentHash;
  if (o.status === 'converged' || o.status === 'in-sync') return undefined;
  return prev;
}

/** Resources observed as desired take their hash in this intent; the others keep what they had. */
function nextInSync(prev: ReadonlyMap<string, string>, verdicts: ResourceVerdict[]): Map<string, string> {
  const next = new Map(prev);
  for (const { id, hash, verdict } of verdicts) if (observedAsDesired(verdict)) next.set(id, hash);
  return next;
}

/** Only a pass that could not reach or reconcile the host as a whole is retried; resource failures stall instead. */
function retryOf(o: HostOutcome): PassAftermath['retry'] {
  // Applied passes report `drifted` only for what changed while they ran: pass again, soon.
  const moved = o.status !== 'drifted' && o.resources.find((r) => r.result === 'drifted');
  if (moved)
    return {
      code: 'ChangedDuringPass',
      message: `${moved.kind}/${moved.name}: ${moved.message}`,
      retryable: true,
    };
  if (o.status !== 'unreachable' && o.status !== 'failed') return undefined;
  return {
    code: o.error?.code ?? 'PassFailed',
    message: o.error?.message ?? 'pass failed',
    retryable: o.error?.retryable ?? true,
  };
}

function logLevelOf(o: HostOutcome): PassAftermath['logLevel'] {
  if (o.status === 'in-sync') return 'debug';
  return o.error || o.status === 'rolled-back' || o.status === 'degraded' ? 'warn' : 'info';
}
