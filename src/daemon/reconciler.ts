import { createHash, randomUUID } from 'node:crypto';
import { hostLayout } from '../apply/host-scripts.js';
import { formatProblem } from '../cli/problems-output.js';
import { HostopError } from '../core/errors.js';
import type { HostIntent, HostRef, Snapshot } from '../core/model.js';
import type { ExecutorSource } from '../engine/host-executor.js';
import type { HostOutcome } from '../engine/outcome.js';
import { type HostMemory, newHostMemory, reconcileHost } from '../engine/reconcile-host.js';
import { type Logger, childFor } from '../observe/logger.js';
import type { HostopMetrics } from '../observe/metrics.js';
import { gitRevision, loadDesiredState } from '../source/load.js';
import { type HostPassState, type PassAftermath, afterPass } from './host-pass-state.js';
import { recordOutcome, resourcesOf } from './host-status-update.js';
import { DEFAULT_WATCH_TIMING, HostWatches } from './host-watches.js';
import type { StatusStore } from './status-store.js';
import { DEFAULT_WATCH_GATE, WatchGate } from './watch-gate.js';
import { WorkQueue } from './work-queue.js';

export interface ReconcilerOptions {
  dir: string;
  inventory?: string;
  mode: 'enforce' | 'detect';
  prune: boolean;
  /** Resync of a host whose watch works (the safety net). */
  resyncMs: number;
  /** Resync of a host without a working watch; default resyncMs. */
  fallbackResyncMs?: number;
  /** Host watches (issue 14): `off` leaves drift to the resync. Default off (unit tests of the rules). */
  watch?: 'auto' | 'poll' | 'off';
  /** Overrides of the watches' timing (tests, benchmarks). */
  watchTiming?: Partial<typeof DEFAULT_WATCH_TIMING>;
  concurrency: number;
  probeTimeoutMs?: number;
  /** Where `.deb`s fetched from URLs are kept (the daemon: `<state-dir>/packages`). */
  packageCache?: string;
  /** Where passes get their hosts' executors; told which hosts are still wanted after each load. */
  pool: ExecutorSource & { retain(hosts: readonly HostRef[]): void };
  /** One pass over one host: the engine's, or a scripted one in unit tests of the reconciler's rules. */
  pass?: typeof reconcileHost;
  metrics: HostopMetrics;
  status: StatusStore;
  log: Logger;
  /** Several daemons sharing the fleet (issue 17): which hosts are this daemon's, and whether it may write. */
  scope?: FleetScope;
  /** Where passes get their executors when they differ from `pool` (the fenced ones of a shared fleet). */
  executors?: ExecutorSource;
  /** After each recorded pass (the owner publishes the host's status for the other daemons). */
  onRecorded?(host: string): void;
}

/** The share of the fleet this daemon works on. Alone, every host, always enforcing. */
export interface FleetScope {
  owns(host: string): boolean;
  enforcing(): boolean;
  /** The hosts of the snapshot now in force, to share out. */
  setHosts(hosts: readonly string[]): void;
}

/** Pass statuses that found the host not as desired (a host that could not be probed found nothing). */
const FOUND_DRIFT = new Set<HostOutcome['status']>(['drifted', 'converged', 'degraded', 'rolled-back']);

/** A failed pass the queue should retry with backoff (or not, for failures only a new desired state fixes). */
class PassFailed extends HostopError {}

/**
 * The long-running controller: a snapshot in force, a keyed work queue of hosts, a resync tick.
 * Level-triggered: every trigger only enqueues host names; a pass always reads the current snapshot and probes
 * afresh. A snapshot that fails validation is reported and ignored: the last valid one stays in force.
 */
export class Reconciler {
  private snapshot?: Snapshot;
  /** Every host's intent in the snapshot in force, and the share of it this daemon works on (`intents`). */
  private rendered = new Map<string, { intent: HostIntent; hash: string }>();
  private intents = new Map<string, HostIntent>();
  private hashes = new Map<string, string>();
  private readonly memory = new Map<string, HostMemory>();
  /** Host -> what its last pass left behind for the next one (see afterPass). */
  private readonly hostStates = new Map<string, HostPassState>();
  private readonly firstPass = new Set<string>();
  /** When each host's last pass began (the resync enqueues hosts whose last pass is old enough). */
  private readonly lastPass = new Map<string, number>();
  private readonly watches?: HostWatches;
  private readonly gate = new WatchGate({ ...DEFAULT_WATCH_GATE, now: Date.now });
  /** Hosts whose queued pass a watch asked for: its finding feeds the gate. */
  private readonly watchTriggered = new Set<string>();
  /** Watch triggers the gate put off: one timer per host. */
  private readonly deferred = new Map<string, NodeJS.Timeout>();
  private readonly queue: WorkQueue;
  private resyncTimer?: NodeJS.Timeout;
  private stopping = false;
  private reloading?: Promise<void>;
  private reloadAgain = false;
  private knownSecrets: readonly string[] = [];

  constructor(private readonly opts: ReconcilerOptions) {
    this.queue = new WorkQueue({
      onDepthChange: (d) => opts.metrics.setWorkqueueDepth(d),
      onError: (key, err) => opts.log.warn({ host: key, err }, 'pass failed; retrying with backoff'),
    });
    if (opts.watch && opts.watch !== 'off') {
      this.watches = new HostWatches({
        source: opts.pool,
        mechanism: opts.watch,
        ...DEFAULT_WATCH_TIMING,
        ...opts.watchTiming,
        log: opts.log,
        signatureOf: (host, path) => this.memory.get(host)?.probe.signatures?.[path],
        onChange: (host, why) => this.watchSaid(host, why),
        onState: (host, state, message) => {
          opts.metrics.setHostWatch(host, state);
          opts.status.recordWatch(host, { state, message });
        },
        onReport: (host, outcome) => opts.metrics.recordWatchReport(host, outcome),
      });
    }
  }

  /** Loads the first snapshot and starts working. */
  start(): void {
    void this.reload();
    this.queue.start((host, signal) => this.reconcile(host, signal), { concurrency: this.opts.concurrency });
    this.scheduleResync();
  }

  /** Ready: a snapshot is in force and every host of it has had one pass. */
  ready(): boolean {
    return this.snapshot !== undefined && this.firstPass.size === 0;
  }

  /**
   * Re-reads and validates the whole desired state. Valid: it replaces the one in force and only hosts whose
   * intent changed are enqueued. Invalid: reported (log, status, metric), nothing is enqueued. One reload runs at
   * a time; asked for during one, it runs once more after it. Resolves once the state asked for is in force.
   */
  reload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      do {
        this.reloadAgain = false;
        if (this.stopping) return;
        // git runs asynchronously (never on the event loop); the files are read and validated in one go.
        const revision = await gitRevision(this.opts.dir);
        this.loadNow(revision);
      } while (this.reloadAgain);
    })()
      .catch((err) => this.opts.log.error({ err }, 'reloading the desired state failed'))
      .finally(() => {
        this.reloading = undefined;
      });
    return this.reloading;
  }

  private loadNow(revision: string | undefined): void {
    const { dir, inventory, log, metrics, status } = this.opts;
    const loaded = loadDesiredState(dir, { inventory, revision });
    if (!loaded.snapshot) {
      const errors = loaded.problems.filter((p) => p.severity === 'error');
      const summary = `${errors.length} problem(s): ${errors.slice(0, 5).map(formatProblem).join('; ')}`;
      log.error(
        { problems: errors.slice(0, 20).map(formatProblem) },
        'desired state is invalid; keeping the last valid snapshot in force',
      );
      metrics.recordDesiredStateInvalid();
      status.recordDesiredStateInvalid(summary);
      status.recordEvent({ type: 'Warning', reason: 'DesiredStateInvalid', message: summary });
      return;
    }
    const snapshot = loaded.snapshot;
    const first = this.snapshot === undefined;
    const changed = this.snapshot?.revision !== snapshot.revision || first;
    this.snapshot = snapshot;
    metrics.recordDesiredStateLoaded(snapshot.revision, new Date());
    status.recordDesiredStateLoaded(snapshot.revision);
    const rendered = loaded.intents ?? [];
    this.knownSecrets = [...new Set(rendered.flatMap((i) => i.files.flatMap((f) => f.secrets)))];
    status.setKnownSecrets(this.knownSecrets);
    if (changed)
      status.recordEvent({
        type: 'Normal',
        reason: 'DesiredStateLoaded',
        message: `revision ${snapshot.revision ?? 'unknown'} in force`,
      });

    this.rendered = new Map(rendered.map((i) => [i.host.name, { intent: i, hash: hashIntent(i) }]));
    this.opts.scope?.setHosts([...this.rendered.keys()]);
    const enqueued = this.applyScope(first);
    log.info(
      { revision: snapshot.revision, hosts: this.rendered.size, owned: this.intents.size, enqueued },
      'desired state loaded',
    );
  }

  /**
   * Works on the hosts of the snapshot this daemon owns: drops those it no longer owns or that left (their
   * watches, metrics and status go with them), and enqueues those whose intent is new to it.
   */
  rescope(): void {
    if (this.snapshot && !this.stopping) this.applyScope(false);
  }

  /** Returns how many hosts it enqueued. */
  private applyScope(first: boolean): number {
    const { metrics, status, scope } = this.opts;
    const next = new Map<string, HostIntent>();
    const nextHashes = new Map<string, string>();
    for (const [host, { intent, hash }] of this.rendered) {
      if (scope && !scope.owns(host)) continue;
      next.set(host, intent);
      nextHashes.set(host, hash);
    }
    for (const [host, intent] of this.intents) {
      if (!next.has(host)) this.forgetHost(host);
      else {
        const keep = new Set(resourcesOf(next.get(host)!).map((r) => `${r.kind}/${r.name}`));
        for (const r of resourcesOf(intent))
          if (!keep.has(`${r.kind}/${r.name}`)) metrics.forgetResource(host, r.kind, r.name);
      }
    }
    const toEnqueue = [...nextHashes].filter(([h, hash]) => this.hashes.get(h) !== hash).map(([h]) => h);
    this.intents = next;
    this.hashes = nextHashes;
    this.opts.pool.retain([...next.values()].map((i) => i.host));
    // A daemon that cannot prove its lease owns nothing for the alerts, though it keeps detecting its hosts.
    const proven = scope?.enforcing() ?? true;
    metrics.setOwnership(
      [...this.rendered.keys()].map((host) => ({ host, owned: proven && next.has(host) })),
    );
    status.prune({
      hosts: next.keys(),
      resources: [...next.values()].flatMap((i) => resourcesOf(i).map((r) => ({ host: i.host.name, ...r }))),
    });
    if (first) for (const h of next.keys()) this.firstPass.add(h);
    for (const h of toEnqueue) this.queue.add(h);
    return toEnqueue.length;
  }

  /** Resolves once no pass of `host` is running. */
  idle(host: string): Promise<void> {
    return this.queue.settled(host);
  }

  /** Every host of the snapshot in force (this daemon's or not). */
  hosts(): string[] {
    return [...this.rendered.keys()];
  }

  /** Secret values of the snapshot in force, for the logger's and the status store's masking. */
  secrets(): readonly string[] {
    return this.knownSecrets;
  }

  /** Enqueues every host (the resync tick, also usable by tests and SIGHUP-like triggers). */
  resyncAll(): void {
    for (const h of this.intents.keys()) this.queue.add(h);
  }

  /** Stop taking work (and watching hosts), let in-flight passes finish within `graceMs`, then abort them. */
  async stop(graceMs: number): Promise<{ aborted: string[] }> {
    this.stopping = true;
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    for (const t of this.deferred.values()) clearTimeout(t);
    this.watches?.closeAll();
    return this.queue.shutdown({ graceMs });
  }

  /**
   * The resync tick, every `fallbackResyncMs` (±10% jitter, so that many daemons or restarts do not probe in
   * lock-step): it enqueues every host without a working watch, and each host with one whose last pass began
   * `resyncMs` ago.
   */
  private scheduleResync(): void {
    const fallback = Math.min(this.opts.fallbackResyncMs ?? this.opts.resyncMs, this.opts.resyncMs);
    const delay = fallback * (0.9 + Math.random() * 0.2);
    this.resyncTimer = setTimeout(() => {
      // Re-read the desired state too: a watcher can miss a change (a git-sync symlink swap, a network
      // filesystem); reloading is cheap and enqueues nothing when nothing changed.
      void this.reload().then(() => {
        const now = Date.now();
        for (const h of this.intents.keys()) {
          const state = this.watches?.state(h);
          // A host without a working watch every tick, as the resync always did (its passes also drive the
          // reconnects of a host that is down); one with a watch once its last pass is `resyncMs` old.
          const watched = (state === 'inotify' || state === 'poll') && this.opts.resyncMs > fallback;
          if (!watched || now - (this.lastPass.get(h) ?? 0) >= this.opts.resyncMs * 0.85) this.queue.add(h);
        }
      });
      this.scheduleResync();
    }, delay);
    this.resyncTimer.unref();
  }

  /**
   * A host's watch says something hostop manages may have changed there. The pass decides; the gate only backs
   * off a host whose watch-triggered passes keep finding drift (something rewrites it in a loop).
   */
  private watchSaid(host: string, why: string): void {
    if (this.stopping || !this.intents.has(host)) return;
    const admit = this.gate.admit(host);
    if (admit.now) {
      this.opts.log.debug({ host, why }, 'host watch: a managed object changed');
      this.watchTriggered.add(host);
      this.queue.add(host);
      return;
    }
    if (this.deferred.has(host)) return;
    this.opts.log.debug({ host, why, until: new Date(admit.at).toISOString() }, 'host watch: backed off');
    const t = setTimeout(() => {
      this.deferred.delete(host);
      this.watchSaid(host, why);
    }, admit.at - Date.now());
    t.unref();
    this.deferred.set(host, t);
  }

  private async reconcile(host: string, signal: AbortSignal): Promise<void> {
    const intent = this.intents.get(host);
    if (!intent) return;
    const hash = this.hashes.get(host)!;
    const log = childFor(this.opts.log, { reconcileId: randomUUID().slice(0, 8), host });
    const stalled = this.hostStates.get(host)?.stalledAt === hash;
    this.lastPass.set(host, Date.now());
    const triggered = this.watchTriggered.delete(host);
    this.watches?.passStarted(host);
    // Read once: the pass applies only if it may, and is retried below exactly when it might not.
    const mayWrite = this.opts.scope?.enforcing() !== false;
    const held = this.opts.mode === 'enforce' && !mayWrite;
    const outcome = await this.runPass(
      host,
      intent,
      this.opts.mode === 'enforce' && !stalled && mayWrite,
      signal,
    );
    // Drift found while the fleet's coordination forbade writes: tried again (with backoff) until it may write.
    if (held && FOUND_DRIFT.has(outcome.status)) this.queue.addRateLimited(host);
    this.firstPass.delete(host);
    if (triggered) this.gate.record(host, FOUND_DRIFT.has(outcome.status));
    if (this.intents.get(host) === intent) this.watches?.passEnded(intent.host, watchTargets(intent));
    if (this.hashes.get(host) !== hash) return; // the host left or its intent changed meanwhile: that newer pass reports
    const prev = this.hostStates.get(host) ?? { inSync: new Map() };
    const after = afterPass(prev, outcome, intent, hash);
    recordOutcome(outcome, after.verdicts, {
      status: this.opts.status,
      metrics: this.opts.metrics,
      revision: this.snapshot?.revision,
      stalled,
    });
    logPass(log, after.logLevel, outcome);
    this.hostStates.set(host, after.state);
    this.opts.onRecorded?.(host);
    if (after.retry) {
      const { code, message, retryable } = after.retry;
      throw new PassFailed(code, message, retryable, { host });
    }
  }

  /** One pass over the host; it applies only when `apply` (enforce mode, intent not stalled, writes allowed). */
  private runPass(
    host: string,
    intent: HostIntent,
    apply: boolean,
    signal: AbortSignal,
  ): Promise<HostOutcome> {
    const memory = this.memory.get(host) ?? newHostMemory();
    this.memory.set(host, memory);
    return (this.opts.pass ?? reconcileHost)(this.opts.executors ?? this.opts.pool, intent, memory, {
      apply,
      prune: this.opts.prune,
      wantDiffs: false,
      probeTimeoutMs: this.opts.probeTimeoutMs,
      packageCache: this.opts.packageCache,
      signal,
    });
  }

  private forgetHost(host: string): void {
    this.watches?.forget(host);
    this.gate.forget(host);
    clearTimeout(this.deferred.get(host));
    this.deferred.delete(host);
    this.watchTriggered.delete(host);
    this.lastPass.delete(host);
    this.opts.metrics.forgetHost(host);
    this.memory.delete(host);
    this.hostStates.delete(host);
    this.firstPass.delete(host);
    this.queue.forget(host);
  }
}

function logPass(log: Logger, level: PassAftermath['logLevel'], outcome: HostOutcome): void {
  log[level](
    {
      status: outcome.status,
      durationMs: outcome.durationMs,
      resources: outcome.resources,
      error: outcome.error,
    },
    `pass ${outcome.status}`,
  );
}

/** What a host's watch looks at: the managed files, and the managed units' invocation links. */
function watchTargets(intent: HostIntent): { paths: string[]; units: string[] } {
  return {
    // dpkg renames its status file over on every run: a package installed, upgraded or removed by hand.
    paths: [
      ...new Set([
        ...intent.files.map((f) => f.path),
        ...(intent.packages?.length ? [hostLayout.dpkgStatus] : []),
      ]),
    ],
    units: [...new Set(intent.services.map((s) => s.unit))],
  };
}

function hashIntent(intent: HostIntent): string {
  return createHash('sha256').update(JSON.stringify(intent)).digest('hex');
}
