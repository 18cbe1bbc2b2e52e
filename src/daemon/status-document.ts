import { CONDITION_STATUSES, CONDITION_TYPES, type Condition } from './conditions.js';

/**
 * The status document: what `/status` serves, `hostop status` shows and `status.json` stores.
 * Plain JSON data; `parseStatusDocument` is the only way a stored one comes back in.
 */

export const STATUS_VERSION = 1;

/** Identifies one resource as applied to one host. */
export interface ResourceKey {
  host: string;
  kind: string;
  name: string;
}

export interface ResourceStatus extends ResourceKey {
  conditions: Condition[];
}

export interface HostStatus {
  host: string;
  /** Whether the last probe reached the host over SSH. */
  reachable: boolean;
  /** ISO-8601 time of the last probe. */
  lastProbeTime: string;
  /** Why the last probe failed (error code and redacted message); absent after a good probe. */
  lastError?: { code: string; message: string };
  /** The host watch: how changes there are seen (`none`: only by the resync), since when, and why it stopped. */
  watch?: { state: string; since: string; message?: string };
  /** Several daemons on etcd: the member that owns the host (absent: none does right now). */
  owner?: string;
}

export interface DesiredStateStatus {
  /** Whether the last load was valid (false before the first load). */
  valid: boolean;
  /** Revision of the snapshot in force (git SHA, `-dirty` suffixed), when known. */
  revision?: string;
  /** ISO-8601 time the snapshot in force was loaded. */
  lastLoadTime?: string;
  /** Summary of the last failed load, while `valid` is false. */
  lastError?: string;
  lastErrorTime?: string;
}

export type EventType = 'Normal' | 'Warning';
export type EventReason =
  | 'DriftDetected'
  | 'DriftCorrected'
  | 'Applied'
  | 'ApplyFailed'
  | 'RolledBack'
  | 'ValidationFailed'
  | 'HealthCheckFailed'
  | 'HostUnreachable'
  | 'HostReachable'
  | 'HostKeyMismatch'
  | 'DesiredStateLoaded'
  | 'DesiredStateInvalid'
  | 'VersionMismatch';

export interface StatusEvent {
  /** ISO-8601 time of the latest occurrence. */
  time: string;
  /** ISO-8601 time of the first occurrence folded into this event. */
  firstTime: string;
  /** Occurrences folded into this event. */
  count: number;
  type: EventType;
  reason: EventReason;
  host?: string;
  kind?: string;
  name?: string;
  message: string;
}

export interface StatusSnapshot {
  version: typeof STATUS_VERSION;
  desiredState: DesiredStateStatus;
  hosts: HostStatus[];
  resources: ResourceStatus[];
  events: StatusEvent[];
  /** Several daemons on etcd: this daemon's view of the coordination (absent when it runs alone). */
  coordination?: FleetCoordination;
}

/** What `/status` says of the daemons that share the fleet. */
export interface FleetCoordination {
  /** This daemon's member name. */
  member: string;
  etcd: 'connected' | 'lost';
  /** Whether this daemon may write to hosts now (it holds its lease); it detects either way. */
  enforcing: boolean;
  /** Why it does not enforce, while it does not. */
  reason?: string;
  /** The live members this daemon sees. */
  members: string[];
  leaseTtlSeconds: number;
  /** How many hosts this daemon owns. */
  owned: number;
  /** Hosts of the desired state no member owns right now. */
  unowned: string[];
}

class ShapeError extends Error {}

/**
 * Parses a stored status document. Returns the document, or a one-line reason (JSON syntax error, or the
 * path of the first field of the wrong shape) when it is unusable. Never throws. Event reasons written by
 * a newer hostop are accepted as they are.
 */
export function parseStatusDocument(text: string): StatusSnapshot | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  try {
    const doc = record(json, '');
    if (doc.version !== STATUS_VERSION) throw new ShapeError(`/version: expected ${STATUS_VERSION}`);
    const desired = record(doc.desiredState, '/desiredState');
    bool(desired.valid, '/desiredState/valid');
    for (const k of ['revision', 'lastLoadTime', 'lastError', 'lastErrorTime']) {
      optional(desired[k], `/desiredState/${k}`, str);
    }
    list(doc.hosts, '/hosts', (h, p) => {
      str(h.host, `${p}/host`);
      bool(h.reachable, `${p}/reachable`);
      str(h.lastProbeTime, `${p}/lastProbeTime`);
      optional(h.lastError, `${p}/lastError`, (e, q) => {
        str(record(e, q).code, `${q}/code`);
        str(record(e, q).message, `${q}/message`);
      });
      optional(h.watch, `${p}/watch`, (w, q) => {
        str(record(w, q).state, `${q}/state`);
        str(record(w, q).since, `${q}/since`);
        optional(record(w, q).message, `${q}/message`, str);
      });
      optional(h.owner, `${p}/owner`, str);
    });
    optional(doc.coordination, '/coordination', (c, q) => {
      str(record(c, q).member, `${q}/member`);
      bool(record(c, q).enforcing, `${q}/enforcing`);
    });
    list(doc.resources, '/resources', (r, p) => {
      for (const k of ['host', 'kind', 'name']) str(r[k], `${p}/${k}`);
      list(r.conditions, `${p}/conditions`, (c, q) => {
        oneOf(c.type, CONDITION_TYPES, `${q}/type`);
        oneOf(c.status, CONDITION_STATUSES, `${q}/status`);
        for (const k of ['reason', 'message', 'lastTransitionTime']) str(c[k], `${q}/${k}`);
        optional(c.observedRevision, `${q}/observedRevision`, str);
      });
    });
    list(doc.events, '/events', (e, p) => {
      for (const k of ['time', 'firstTime', 'reason', 'message']) str(e[k], `${p}/${k}`);
      oneOf(e.type, ['Normal', 'Warning'], `${p}/type`);
      if (!(Number.isInteger(e.count) && (e.count as number) >= 1)) throw new ShapeError(`${p}/count`);
      for (const k of ['host', 'kind', 'name']) optional(e[k], `${p}/${k}`, str);
    });
    return json as StatusSnapshot;
  } catch (err) {
    if (err instanceof ShapeError) return `unexpected shape at ${err.message}`;
    throw err;
  }
}

function record(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ShapeError(`${path || '/'}: not an object`);
  return v as Record<string, unknown>;
}

function list(v: unknown, path: string, each: (item: Record<string, unknown>, path: string) => void): void {
  if (!Array.isArray(v)) throw new ShapeError(`${path}: not an array`);
  v.forEach((item, i) => each(record(item, `${path}/${i}`), `${path}/${i}`));
}

function str(v: unknown, path: string): void {
  if (typeof v !== 'string') throw new ShapeError(`${path}: not a string`);
}

function bool(v: unknown, path: string): void {
  if (typeof v !== 'boolean') throw new ShapeError(`${path}: not a boolean`);
}

function oneOf(v: unknown, allowed: readonly string[], path: string): void {
  if (typeof v !== 'string' || !allowed.includes(v))
    throw new ShapeError(`${path}: not one of ${allowed.join(', ')}`);
}

function optional(v: unknown, path: string, check: (v: unknown, path: string) => void): void {
  if (v !== undefined) check(v, path);
}
