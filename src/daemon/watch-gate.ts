import { type BackoffPolicy, backoffDelay, backoffPolicy } from '../core/backoff.js';

/** How the gate backs off a host whose watch keeps reporting changes that passes then find as drift. */
export interface WatchGateOptions {
  /** Drift findings counted over this window. */
  windowMs: number;
  /** More watch-triggered drift findings than this within the window backs the host off. */
  maxFindings: number;
  /** First back-off; doubles per further offence up to maxMs. */
  baseMs: number;
  maxMs: number;
  now: () => number;
}

export const DEFAULT_WATCH_GATE: Omit<WatchGateOptions, 'now'> = {
  windowMs: 60_000,
  maxFindings: 3,
  baseMs: 5_000,
  maxMs: 300_000,
};

interface HostGate {
  /** When each recent watch-triggered pass found drift. */
  findings: number[];
  /** Back-offs in a row: the next one is backoffDelay(level). */
  level: number;
  until: number;
}

/**
 * When a host's watch may enqueue a pass (pure, clock injected). A watch only ever triggers; the pass decides. A
 * host whose watch-triggered passes keep finding drift — something on the host rewrites what hostop manages, in a
 * loop against it — is backed off exponentially, so such a fight costs bounded CPU on both sides while the drift
 * stays visible (each pass that runs still reports it, and the resync still comes). A trigger refused now is not
 * lost: `admit` says when to take it.
 */
export class WatchGate {
  private readonly hosts = new Map<string, HostGate>();
  private readonly backoff: BackoffPolicy;

  /** Throws RangeError for a non-positive base or a max below it (see backoffPolicy). */
  constructor(private readonly opts: WatchGateOptions) {
    this.backoff = backoffPolicy({ baseMs: opts.baseMs, capMs: opts.maxMs, jitter: 0 });
  }

  /** A trigger from `host`'s watch: take it now, or at the time given (the caller keeps one timer per host). */
  admit(host: string): { now: true } | { now: false; at: number } {
    const at = this.backedOffUntil(host);
    return at === undefined ? { now: true } : { now: false, at };
  }

  /** After a pass that the watch triggered: `drifted` when it found the host not as desired. */
  record(host: string, drifted: boolean): void {
    const now = this.opts.now();
    const g = this.hosts.get(host) ?? { findings: [], level: 0, until: 0 };
    this.hosts.set(host, g);
    if (!drifted) {
      // The host held still: whatever rewrote it has stopped.
      g.findings = [];
      g.level = 0;
      g.until = 0;
      return;
    }
    g.findings = [...g.findings.filter((t) => now - t < this.opts.windowMs), now];
    if (g.findings.length <= this.opts.maxFindings) return;
    g.until = now + backoffDelay(g.level++, this.backoff);
  }

  /** Until when `host` is backed off (undefined: not backed off). */
  backedOffUntil(host: string): number | undefined {
    const g = this.hosts.get(host);
    return g && g.until > this.opts.now() ? g.until : undefined;
  }

  forget(host: string): void {
    this.hosts.delete(host);
  }
}
