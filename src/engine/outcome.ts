import type { HostPlan } from '../core/diff.js';
import type { ResourceRef } from '../core/model.js';

/**
 * What happened on one host in one pass, as plain data: `hostop plan/apply` print it, the daemon turns it into
 * conditions, events and metrics.
 */
export type PassStatus =
  /** Observed as desired; nothing was done. */
  | 'in-sync'
  /** Plan only (or detect mode): changes are needed. */
  | 'drifted'
  /** Changes were applied and a re-probe observed the host as desired. */
  | 'converged'
  /** Some resources converged, others failed validation or were rolled back. */
  | 'degraded'
  /** A change failed health and was rolled back everywhere it touched. */
  | 'rolled-back'
  /** The host could not be reached or the pass failed as a whole. */
  | 'unreachable'
  | 'failed';

export type ResourceResult =
  | 'unchanged'
  | 'drifted'
  | 'applied'
  | 'validation-failed'
  | 'rolled-back'
  | 'failed'
  | 'pruned'
  /** Left alone: its component's installed version is not the one it was rendered for (VersionMismatch, ...). */
  | 'held';

export interface ResourceOutcome extends ResourceRef {
  result: ResourceResult;
  /** Secrets masked. */
  message?: string;
  /** Stable code: one of APPLY_FAILURE_REASONS for a failure, or why a resource was held (VersionMismatch, ...). */
  reason?: string;
}

/** Every reason the engine gives a failed, rolled-back or unconverged resource (bounded `reason` label values). */
export const APPLY_FAILURE_REASONS = [
  'StageFailed',
  'ValidationFailed',
  'ActivateFailed',
  'NotRestarted',
  'ReloadNotApplied',
  'HealthCheckFailed',
  'PruneFailed',
  'NotConverged',
  'IntegrityMismatch',
  'FetchFailed',
  'UploadFailed',
  'InstallFailed',
] as const;

export interface CheckOutcome {
  name: string;
  resource: ResourceRef;
  ok: boolean;
  message: string;
}

export interface HostOutcome {
  host: string;
  status: PassStatus;
  plan?: HostPlan;
  resources: ResourceOutcome[];
  checks: CheckOutcome[];
  error?: { code: string; message: string; retryable: boolean };
  durationMs: number;
}
