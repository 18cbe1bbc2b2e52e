/**
 * Kubernetes-style status conditions, with apimachinery's `meta.SetStatusCondition` semantics:
 * the transition time moves only when the status really changes. Pure data, no I/O.
 */

export const CONDITION_TYPES = ['Ready', 'Drifted', 'Stalled'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;
export type ConditionStatus = (typeof CONDITION_STATUSES)[number];

export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  /** CamelCase machine-readable cause, e.g. `Converged`, `DriftDetected`, `HostUnreachable`. */
  reason: string;
  /** One line for a person; already redacted by whoever stores it. */
  message: string;
  /** ISO-8601 time of the last change of `status`. */
  lastTransitionTime: string;
  /** Desired-state revision this condition was computed at, when known. */
  observedRevision?: string;
}

/** A condition as a reconcile reports it; the transition time is the function's business. */
export type ConditionUpdate = Omit<Condition, 'lastTransitionTime'>;

/**
 * Returns `conditions` with `update` applied: a condition of a new type is appended with
 * `lastTransitionTime = now`; an existing one keeps its transition time unless its status changes, and
 * takes the update's reason, message and revision either way.
 *
 * Contract: pure; the input is never mutated; when nothing changes the very same array is returned,
 * so `result !== conditions` tells the caller whether there is anything to persist. Never throws.
 */
export function setCondition(
  conditions: readonly Condition[],
  update: ConditionUpdate,
  now: string,
): readonly Condition[] {
  const index = conditions.findIndex((c) => c.type === update.type);
  const existing = index === -1 ? undefined : conditions[index];
  if (existing === undefined) return [...conditions, { ...update, lastTransitionTime: now }];
  const next: Condition = {
    ...update,
    lastTransitionTime: existing.status === update.status ? existing.lastTransitionTime : now,
  };
  if (sameCondition(existing, next)) return conditions;
  return conditions.map((c, i) => (i === index ? next : c));
}

/** The condition of the given type, if any. */
export function getCondition(conditions: readonly Condition[], type: ConditionType): Condition | undefined {
  return conditions.find((c) => c.type === type);
}

function sameCondition(a: Condition, b: Condition): boolean {
  return (
    a.status === b.status &&
    a.reason === b.reason &&
    a.message === b.message &&
    a.lastTransitionTime === b.lastTransitionTime &&
    a.observedRevision === b.observedRevision
  );
}
