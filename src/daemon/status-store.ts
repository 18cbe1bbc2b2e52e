import { describeError } from '../core/errors.js';
import { redactText } from '../core/redact.js';
import { type Clock, type TimerHandle, systemClock } from './clock.js';
import { type Condition, type ConditionUpdate, setCondition } from './conditions.js';
import {
  type DesiredStateStatus,
  type EventReason,
  type HostStatus,
  type ResourceKey,
  type ResourceStatus,
  STATUS_VERSION,
  type StatusEvent,
  type StatusSnapshot,
  parseStatusDocument,
} from './status-document.js';

export type * from './status-document.js';

/**
 * Where the store keeps its document between runs. `createFileStatusPersistence` is the real one.
 * Contract: `write` replaces the stored document atomically (a crash leaves the old or the new one);
 * `read` returns undefined when nothing was ever stored; `quarantine` moves the stored document aside
 * and returns where it went. Each rejects with the underlying I/O error.
 */
export interface StatusPersistence {
  read(): Promise<string | undefined>;
  write(text: string): Promise<void>;
  quarantine(): Promise<string>;
}

/** What `load` found. It never rejects: a bad document costs history, never the daemon. */
export type LoadOutcome =
  | { state: 'empty' }
  | { state: 'loaded'; hosts: number; resources: number; events: number }
  /** Unparsable or of an unknown shape; set aside (`movedTo`, absent when even that failed). */
  | { state: 'corrupt'; reason: string; movedTo?: string }
  /** The document could not be read (permissions, I/O); left where it is, the store starts empty. */
  | { state: 'unreadable'; reason: string };

export interface StatusStoreOptions {
  /** Absent: status lives in memory only (e.g. for one-shot commands). */
  persistence?: StatusPersistence;
  clock?: Clock;
  /** Writes are coalesced into at most one per this many ms. Default 500. */
  debounceMs?: number;
  /** Size of the event ring. Default 500. */
  maxEvents?: number;
  /** Called when a write fails; the store stays dirty and retries with the next change or flush. */
  onPersistError?: (err: unknown) => void;
}

/** Longest stored message; validator output can be pages long, status stays small. */
const MAX_MESSAGE = 1024;

/**
 * The daemon's status: conditions per (host, kind, name), a record per host, the desired-state record
 * and a bounded, aggregated event history. In memory first; persisted debounced.
 *
 * Contract: every message, error text and reason that enters the store is passed through `redactText`
 * with the current known secrets and cut to 1024 characters, so `snapshot()` and the stored file never
 * carry a known secret. Mutators are synchronous and never throw; persistence failures go to
 * `onPersistError`. Memory is bounded by the desired state (after `prune`) plus `maxEvents` events.
 */
export class StatusStore {
  private readonly clock: Clock;
  private readonly persistence?: StatusPersistence;
  private readonly debounceMs: number;
  private readonly maxEvents: number;
  private readonly onPersistError?: (err: unknown) => void;
  private desired: DesiredStateStatus = { valid: false };
  private readonly hosts = new Map<string, HostStatus>();
  private readonly resources = new Map<string, ResourceStatus>();
  private events: StatusEvent[] = [];
  private secrets: readonly string[] = [];
  private dirty = false;
  private closed = false;
  private timer?: TimerHandle;
  private writing: Promise<void> = Promise.resolve();

  constructor(options: StatusStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.persistence = options.persistence;
    this.debounceMs = options.debounceMs ?? 500;
    this.maxEvents = Math.max(1, options.maxEvents ?? 500);
    this.onPersistError = options.onPersistError;
  }

  /** Loads the stored document, replacing what is in memory. Call once, before the first mutation. */
  async load(): Promise<LoadOutcome> {
    if (this.persistence === undefined) return { state: 'empty' };
    let text: string | undefined;
    try {
      text = await this.persistence.read();
    } catch (err) {
      return { state: 'unreadable', reason: describeError(err) };
    }
    if (text === undefined) return { state: 'empty' };
    const parsed = parseStatusDocument(text);
    if (typeof parsed === 'string') {
      try {
        return { state: 'corrupt', reason: parsed, movedTo: await this.persistence.quarantine() };
      } catch (err) {
        return { state: 'corrupt', reason: `${parsed}; could not set it aside: ${describeError(err)}` };
      }
    }
    this.desired = parsed.desiredState;
    this.hosts.clear();
    for (const h of parsed.hosts) this.hosts.set(h.host, h);
    this.resources.clear();
    for (const r of parsed.resources) this.resources.set(resourceId(r), r);
    this.events = parsed.events.slice(-this.maxEvents);
    return {
      state: 'loaded',
      hosts: this.hosts.size,
      resources: this.resources.size,
      events: this.events.length,
    };
  }

  /** Secret values to mask from now on (datasource passwords, OTLP headers of the snapshot in force). */
  setKnownSecrets(values: readonly string[]): void {
    this.secrets = [...values];
  }

  /** Sets one condition of one resource on one host (transition time per `setCondition`). */
  setCondition(key: ResourceKey, update: ConditionUpdate): void {
    const id = resourceId(key);
    const current = this.resources.get(id)?.conditions ?? [];
    const next = setCondition(current, { ...update, message: this.clean(update.message) }, this.nowIso());
    if (next === current && this.resources.has(id)) return;
    this.resources.set(id, { host: key.host, kind: key.kind, name: key.name, conditions: [...next] });
    this.changed();
  }

  /** The conditions of one resource, empty when none were set. */
  conditionsOf(key: ResourceKey): readonly Condition[] {
    return this.resources.get(resourceId(key))?.conditions ?? [];
  }

  /** Records the outcome of probing a host: reachable or not, and the error if the probe failed. */
  recordHostProbe(
    host: string,
    probe: { reachable: boolean; error?: { code: string; message: string } },
  ): void {
    const record: HostStatus = { host, reachable: probe.reachable, lastProbeTime: this.nowIso() };
    if (probe.error) record.lastError = { code: probe.error.code, message: this.clean(probe.error.message) };
    const watch = this.hosts.get(host)?.watch;
    if (watch) record.watch = watch;
    this.hosts.set(host, record);
    this.changed();
  }

  /** The host watch changed state (a host not probed yet gets its record at its first probe). */
  recordWatch(host: string, watch: { state: string; message?: string }): void {
    const record = this.hosts.get(host);
    if (!record) return;
    record.watch = { state: watch.state, since: this.nowIso() };
    if (watch.message) record.watch.message = this.clean(watch.message);
    this.changed();
  }

  /** A snapshot loaded and validated: it is now in force. */
  recordDesiredStateLoaded(revision: string | undefined): void {
    this.desired = { valid: true, revision, lastLoadTime: this.nowIso() };
    this.changed();
  }

  /** A snapshot failed to load; the one in force (and its revision) stays. */
  recordDesiredStateInvalid(error: string): void {
    this.desired = {
      ...this.desired,
      valid: false,
      lastError: this.clean(error),
      lastErrorTime: this.nowIso(),
    };
    this.changed();
  }

  /**
   * Appends an event. An event identical in type, reason, object and message to one already in the ring
   * is folded into it (count + 1, time = now, moved to the end), as Kubernetes aggregates events, so a
   * host that stays down does not flush the history out.
   */
  recordEvent(event: {
    type: 'Normal' | 'Warning';
    reason: EventReason;
    message: string;
    host?: string;
    kind?: string;
    name?: string;
  }): void {
    const now = this.nowIso();
    const message = this.clean(event.message);
    let index = this.events.length - 1;
    for (; index >= 0; index--) {
      const e = this.events[index]!;
      const same =
        e.type === event.type &&
        e.reason === event.reason &&
        e.host === event.host &&
        e.kind === event.kind &&
        e.name === event.name &&
        e.message === message;
      if (same) break;
    }
    const previous = index === -1 ? undefined : this.events[index];
    if (previous !== undefined) this.events.splice(index, 1);
    this.events.push({
      ...event,
      message,
      time: now,
      firstTime: previous?.firstTime ?? now,
      count: (previous?.count ?? 0) + 1,
    });
    if (this.events.length > this.maxEvents) this.events.splice(0, this.events.length - this.maxEvents);
    this.changed();
  }

  /** Drops records of hosts and resources no longer in the desired state. Events are history and stay. */
  prune(existing: { hosts: Iterable<string>; resources: Iterable<ResourceKey> }): void {
    const hosts = new Set(existing.hosts);
    const resources = new Set([...existing.resources].map(resourceId));
    let removed = false;
    for (const host of [...this.hosts.keys()])
      if (!hosts.has(host)) removed = this.hosts.delete(host) || removed;
    for (const id of [...this.resources.keys()])
      if (!resources.has(id)) removed = this.resources.delete(id) || removed;
    if (removed) this.changed();
  }

  /** A JSON-serializable copy of everything, sorted by host, kind, name; events oldest first. */
  /** Whether the last probe reached `host` (undefined when never probed); O(1), unlike snapshot(). */
  hostReachable(host: string): boolean | undefined {
    return this.hosts.get(host)?.reachable;
  }

  /** One host's record and the conditions of its resources (what its owner publishes for the other daemons). */
  hostView(host: string): { host?: HostStatus; resources: ResourceStatus[] } {
    return structuredClone({
      host: this.hosts.get(host),
      resources: [...this.resources.values()].filter((r) => r.host === host),
    });
  }

  snapshot(): StatusSnapshot {
    const byKey = (a: ResourceStatus, b: ResourceStatus) => compare(resourceId(a), resourceId(b));
    return structuredClone({
      version: STATUS_VERSION,
      desiredState: this.desired,
      hosts: [...this.hosts.values()].sort((a, b) => compare(a.host, b.host)),
      resources: [...this.resources.values()].sort(byKey),
      events: this.events,
    });
  }

  /** Writes now if anything changed since the last write; resolves when that write (or the current one) ends. */
  flush(): Promise<void> {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const persistence = this.persistence;
    if (!this.dirty || persistence === undefined) return this.writing;
    this.dirty = false;
    const text = `${JSON.stringify(this.snapshot(), null, 1)}\n`;
    this.writing = this.writing
      .then(() => persistence.write(text))
      .catch((err: unknown) => {
        this.dirty = true;
        try {
          this.onPersistError?.(err);
        } catch {
          // A failing report hook must not break the write chain.
        }
      });
    return this.writing;
  }

  /** Flushes and stops scheduling writes (for shutdown). Later changes stay in memory only. */
  close(): Promise<void> {
    this.closed = true;
    return this.flush();
  }

  private changed(): void {
    this.dirty = true;
    if (this.closed || this.persistence === undefined || this.timer !== undefined) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.debounceMs);
  }

  private clean(text: string): string {
    const masked = redactText(text, this.secrets);
    return masked.length <= MAX_MESSAGE ? masked : `${masked.slice(0, MAX_MESSAGE - 1)}…`;
  }

  private nowIso(): string {
    return new Date(this.clock.now()).toISOString();
  }
}

function resourceId(key: ResourceKey): string {
  return JSON.stringify([key.host, key.kind, key.name]);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
