import { hostScript } from '../apply/host-scripts.js';
import { type BackoffPolicy, backoffDelay, backoffPolicy } from '../core/backoff.js';
import { describeError } from '../core/errors.js';
import type { HostRef } from '../core/model.js';
import type { ExecutorSource, HostStream } from '../engine/host-executor.js';
import type { Logger } from '../observe/logger.js';
import {
  type WatchMechanism,
  type WatchRecord,
  type WatchRequest,
  invocationLink,
  parseWatchLine,
} from '../probe/watch-script.js';

/** What a host's watch is doing: a working mechanism, or `none` (the resync alone covers the host). */
export type WatchState = WatchMechanism | 'starting' | 'none';

export interface HostWatchesOptions {
  source: ExecutorSource;
  /** `auto`: inotify where the host has inotifywait, else poll; `poll`: always poll. */
  mechanism: 'auto' | 'poll';
  /** The heartbeat: a poll watch's tick, and (every `inotifyBeatEvery` of them) an inotify watch's lease renewal. */
  tickMs: number;
  inotifyBeatEvery: number;
  /** Poll: one `stat` of everything every this many ticks. */
  statEvery: number;
  /** No heartbeat for this long and the watch ends itself on the host. */
  leaseS: number;
  /** The signature the host's last probe saw at `path` (`-`: missing; undefined: not probed). */
  signatureOf(host: string, path: string): string | undefined;
  /** Something hostop manages on `host` may have changed: the reconciler decides what to do. */
  onChange(host: string, why: string): void;
  /** The host's watch state changed (status, metrics). */
  onState(host: string, state: WatchState, message?: string): void;
  /** A report was compared with the last probe: `changed` (the host is told) or `unchanged` (dropped). */
  onReport?(host: string, outcome: 'changed' | 'unchanged'): void;
  log: Logger;
  /** Restart back-off after a watch failed (doubles per failure in a row, jitter 0.5). */
  restartBaseMs?: number;
  restartMaxMs?: number;
}

export const DEFAULT_WATCH_TIMING = {
  tickMs: 1000,
  inotifyBeatEvery: 30,
  statEvery: 10,
  leaseS: 90,
} as const;

/** Bounds on what a host may send: a longer line or a faster stream ends the watch (a hostile host). */
const MAX_LINE = 200;
const MAX_LINES_PER_SECOND = 2000;
/** Opening the channel and reaching `ready`. */
const START_TIMEOUT_MS = 30_000;
/** A watch that lived this long before failing restarts without back-off. */
const STABLE_MS = 60_000;

interface Watch {
  ref: HostRef;
  /** What it watches, as a key: a different one restarts the watch. */
  key: string;
  req: WatchRequest;
  state: WatchState;
  /** Counts starts: a start overtaken by a later one (a restart while it still connects) drops what it opened. */
  generation: number;
  stream?: HostStream;
  startedAt: number;
  /** Reports held while a pass runs on the host: path -> latest signature; `enablement` for `e`. */
  held?: Map<string, string>;
  failures: number;
  restartTimer?: NodeJS.Timeout;
  readyTimer?: NodeJS.Timeout;
  /** Files missing when the watch started (their directory may be unwatched): one appearing restarts an inotify watch. */
  missingAtStart: Set<string>;
  buffered: string;
  lines: { second: number; count: number };
}

/**
 * One watch per host over the daemon's SSH connection (issue 14; docs/design/host-watches.md). A watch only ever
 * triggers, never decides: each report carries the stat signature of what changed, and is dropped when it equals
 * what the host's last probe saw (hostop's own writes and restarts, verified by the pass that made them). Reports
 * that arrive while a pass runs on the host are held and compared once it ends. A watch that fails is restarted
 * with back-off and the host is told (a full pass covers the gap); meanwhile the resync covers the host.
 */
export class HostWatches {
  private readonly watches = new Map<string, Watch>();
  private readonly restartBackoff: BackoffPolicy;
  private readonly beat: NodeJS.Timeout;
  private beats = 0;
  private closed = false;

  constructor(private readonly opts: HostWatchesOptions) {
    this.restartBackoff = backoffPolicy({
      baseMs: opts.restartBaseMs ?? 1000,
      capMs: opts.restartMaxMs ?? 60_000,
      jitter: 0.5,
    });
    this.beat = setInterval(() => this.heartbeat(), opts.tickMs);
    this.beat.unref();
  }

  state(host: string): WatchState {
    return this.watches.get(host)?.state ?? 'none';
  }

  /** A pass on `host` begins: its reports are held until it ends. */
  passStarted(host: string): void {
    const w = this.watches.get(host);
    if (w) w.held ??= new Map();
  }

  /**
   * A pass on `host` ended: held reports are compared with what it saw. Then the watch is started, or restarted
   * when what it must watch changed (or a path whose directory it could not watch now exists).
   */
  passEnded(host: HostRef, targets: { paths: string[]; units: string[] }): void {
    if (this.closed) return;
    let w = this.watches.get(host.name);
    const held = w?.held;
    if (w) w.held = undefined;
    // Before any restart: a held enablement change is not re-reported by a new watch's first scan.
    if (w && held) for (const [path, sig] of held) this.compare(w, path, sig);
    const key = JSON.stringify([host, targets]);
    // A poll watch tests existence itself; an inotify watch may not watch the directory of a path missing then.
    const appeared =
      w?.state === 'inotify' &&
      [...w.missingAtStart].some((p) => (this.opts.signatureOf(host.name, p) ?? '-') !== '-');
    if (w && (w.key !== key || appeared)) {
      this.stop(w, 'none');
      this.watches.delete(host.name);
      w = undefined;
    }
    if (!w) {
      const req: WatchRequest = {
        ...targets,
        mechanism: this.opts.mechanism,
        statEvery: this.opts.statEvery,
        renewEvery: Math.max(1, Math.floor((this.opts.leaseS * 1000) / this.opts.tickMs / 3)),
        leaseS: this.opts.leaseS,
      };
      w = this.newWatch(host, key, req);
      this.watches.set(host.name, w);
      void this.start(w);
    }
  }

  /** The host left the desired state. */
  forget(host: string): void {
    const w = this.watches.get(host);
    if (!w) return;
    this.stop(w, 'none');
    this.watches.delete(host);
  }

  closeAll(): void {
    this.closed = true;
    clearInterval(this.beat);
    for (const w of this.watches.values()) this.stop(w, 'none');
    this.watches.clear();
  }

  private newWatch(ref: HostRef, key: string, req: WatchRequest): Watch {
    return {
      ref,
      key,
      req,
      state: 'none',
      generation: 0,
      startedAt: Date.now(),
      failures: 0,
      missingAtStart: new Set(),
      buffered: '',
      lines: { second: 0, count: 0 },
    };
  }

  private async start(w: Watch): Promise<void> {
    const host = w.ref.name;
    const generation = ++w.generation;
    this.setState(w, 'starting');
    w.startedAt = Date.now();
    w.missingAtStart.clear();
    w.readyTimer = setTimeout(() => this.fail(w, 'not ready in time'), START_TIMEOUT_MS);
    w.readyTimer.unref();
    try {
      const conn = await this.opts.source.connection(w.ref);
      if (!conn.stream) throw new Error('this executor cannot stream');
      const stream = await conn.stream(hostScript({ op: 'watch', watch: w.req }), {
        timeoutMs: START_TIMEOUT_MS,
      });
      if (this.watches.get(host) !== w || w.generation !== generation || w.state !== 'starting') {
        stream.destroy();
        return;
      }
      w.stream = stream;
      let stderr = '';
      stream.stderr.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString('utf8')).slice(-300);
      });
      stream.on('data', (d: Buffer) => this.receive(w, d));
      stream.on('error', () => {});
      stream.on('close', () => {
        if (w.stream === stream)
          this.fail(w, `watch channel closed${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
      });
    } catch (e) {
      if (this.watches.get(host) === w && w.generation === generation) this.fail(w, describeError(e));
    }
  }

  private receive(w: Watch, data: Buffer): void {
    const second = Math.floor(Date.now() / 1000);
    w.buffered += data.toString('latin1');
    for (let i = w.buffered.indexOf('\n'); i >= 0 && w.stream; i = w.buffered.indexOf('\n')) {
      const line = w.buffered.slice(0, i);
      w.buffered = w.buffered.slice(i + 1);
      if (w.lines.second !== second) w.lines = { second, count: 0 };
      if (++w.lines.count > MAX_LINES_PER_SECOND) {
        this.fail(w, 'more output than a watch sends');
        return;
      }
      let record: WatchRecord;
      try {
        record = parseWatchLine(w.ref.name, w.req, line);
      } catch (e) {
        this.fail(w, describeError(e));
        return;
      }
      this.take(w, record);
    }
    if (w.buffered.length > MAX_LINE) this.fail(w, 'a watch line longer than any record');
  }

  private take(w: Watch, r: WatchRecord): void {
    switch (r.type) {
      case 'ready':
        clearTimeout(w.readyTimer);
        this.setState(w, r.mechanism);
        return;
      case 'file':
      case 'unit': {
        const path = r.type === 'file' ? w.req.paths[r.index]! : invocationLink(w.req.units[r.index]!);
        // Only a file's directory can be unwatched; /run/systemd/units always is watched.
        if (w.state === 'starting' && r.type === 'file' && r.signature === '-') w.missingAtStart.add(path);
        if (w.held) w.held.set(path, r.signature);
        else this.compare(w, path, r.signature);
        return;
      }
      case 'enablement':
        // Enablement links carry no signature the probe saw: always a trigger (held during a pass).
        if (w.held) w.held.set('enablement', '');
        else this.changed(w, 'a unit enablement directory changed');
        return;
      case 'lost':
        this.fail(w, `watch lost (${r.why})`);
        return;
      case 'end':
        this.fail(w, 'the watch ended on the host');
        return;
    }
  }

  private compare(w: Watch, path: string, signature: string): void {
    if (path === 'enablement') {
      this.changed(w, 'a unit enablement directory changed');
      return;
    }
    if (this.opts.signatureOf(w.ref.name, path) === signature) {
      this.opts.onReport?.(w.ref.name, 'unchanged');
      return;
    }
    this.changed(w, `${path} changed`);
  }

  private changed(w: Watch, why: string): void {
    this.opts.onReport?.(w.ref.name, 'changed');
    this.opts.onChange(w.ref.name, why);
  }

  /** The watch failed: the host is told (a pass covers what it may have missed); it restarts after a back-off. */
  private fail(w: Watch, why: string): void {
    if (this.watches.get(w.ref.name) !== w || w.state === 'none') return;
    const lived = Date.now() - w.startedAt;
    if (w.state !== 'starting' && lived >= STABLE_MS) w.failures = 0;
    this.stop(w, 'none', why);
    const delay = backoffDelay(w.failures++, this.restartBackoff);
    this.opts.log.warn(
      { host: w.ref.name, why, restartInMs: Math.round(delay) },
      'host watch stopped; the resync covers the host meanwhile',
    );
    this.opts.onChange(w.ref.name, `watch stopped: ${why}`);
    w.restartTimer = setTimeout(() => {
      w.restartTimer = undefined;
      if (!this.closed && this.watches.get(w.ref.name) === w) void this.start(w);
    }, delay);
    w.restartTimer.unref();
  }

  private stop(w: Watch, state: WatchState, message?: string): void {
    clearTimeout(w.readyTimer);
    clearTimeout(w.restartTimer);
    const stream = w.stream;
    w.stream = undefined;
    w.buffered = '';
    if (stream) {
      // stdin EOF: the script's EXIT trap ends its process group on the host.
      stream.end();
      stream.destroy();
    }
    this.setState(w, state, message);
  }

  private setState(w: Watch, state: WatchState, message?: string): void {
    if (w.state === state && !message) return;
    w.state = state;
    this.opts.onState(w.ref.name, state, message);
  }

  /** One line to every poll watch per tick, and to inotify watches every `inotifyBeatEvery` ticks (the lease). */
  private heartbeat(): void {
    this.beats++;
    const inotify = this.beats % this.opts.inotifyBeatEvery === 0;
    for (const w of this.watches.values()) {
      const s = w.stream;
      if (!s || (w.state !== 'poll' && !(w.state === 'inotify' && inotify))) continue;
      // A host that stopped reading does not fill the daemon's memory: its lease runs out instead.
      if (s.writableLength < 4096) s.write('\n');
    }
  }
}
