import { setMaxListeners } from 'node:events';
import { readFile } from 'node:fs/promises';
import PQueue from 'p-queue';
import { type BackoffPolicy, backoffDelay, backoffPolicy } from '../core/backoff.js';
import { HostopError, TransportError } from '../core/errors.js';
import type { HostRef } from '../core/model.js';
import { untilAborted } from './deadline.js';
import { HostConnection, type TransportCounters } from './host-connection.js';

export interface PoolOptions {
  /** Deadline of one TCP connect + SSH handshake + auth. */
  connectTimeoutMs: number;
  /** Handshakes are CPU-bound (2 cores): more at once only makes each slower. */
  maxConcurrentHandshakes: number;
  /** First retry delay after a failed connect; doubles per consecutive failure up to the max (jitter: 0.5). */
  backoffBaseMs: number;
  backoffMaxMs: number;
  keepaliveIntervalMs: number;
  maxOutputBytes: number;
}

const DEFAULTS: PoolOptions = {
  connectTimeoutMs: 10_000,
  maxConcurrentHandshakes: 16,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  keepaliveIntervalMs: 15_000,
  maxOutputBytes: 64 * 1024 * 1024,
};

interface Entry {
  ref: HostRef;
  conn?: HostConnection;
  connecting?: Promise<HostConnection>;
  failures: number;
  retryAt: number;
  lastError?: HostopError;
}

/**
 * One SSH connection per host, opened on first use and reused across passes. A host whose connect
 * failed is not tried again before its backoff (exponential with jitter) elapses: callers get the last
 * error at once. A changed `HostRef` (address, key, user, ...) replaces the connection; `retain` drops
 * hosts that left the inventory. A dropped connection is replaced on the next call without backoff.
 */
export class ConnectionPool {
  private readonly opts: PoolOptions;
  private readonly entries = new Map<string, Entry>();
  private readonly tallies = new Map<string, TransportCounters>();
  private readonly keys = new Map<string, Promise<Buffer>>();
  private readonly closing = new AbortController();
  /** FIFO: a finished handshake's slot goes to the longest waiter. */
  private readonly handshakes: PQueue;
  private readonly backoff: BackoffPolicy;

  /** Throws RangeError for a non-positive backoff base or a max below it. */
  constructor(opts: Partial<PoolOptions> = {}) {
    this.opts = { ...DEFAULTS, ...opts };
    this.handshakes = new PQueue({ concurrency: this.opts.maxConcurrentHandshakes });
    this.backoff = backoffPolicy({
      baseMs: this.opts.backoffBaseMs,
      capMs: this.opts.backoffMaxMs,
      jitter: 0.5,
    });
    // Every connect in progress listens on it: one per host, not a leak.
    setMaxListeners(0, this.closing.signal);
  }

  /**
   * A live connection to `host`, connecting if needed. Rejects with the connect error (TransportError /
   * TimeoutError, `host` set), with the previous error while the host is backing off, or with the
   * signal's reason. The signal bounds only this caller's wait; a shared connect keeps its own deadline.
   */
  async connection(host: HostRef, signal?: AbortSignal): Promise<HostConnection> {
    let entry = this.entries.get(host.name);
    if (entry && !sameHost(entry.ref, host)) {
      this.evict(host.name);
      entry = undefined;
    }
    if (!entry) {
      entry = { ref: host, failures: 0, retryAt: 0 };
      this.entries.set(host.name, entry);
    }
    if (entry.conn && !entry.conn.closed) return entry.conn;
    if (!entry.connecting) {
      if (entry.lastError && Date.now() < entry.retryAt) throw entry.lastError;
      entry.connecting = this.connect(entry);
    }
    return signal ? untilAborted(entry.connecting, signal, host.name) : entry.connecting;
  }

  /** Tallies for one host since it entered the pool (a copy). */
  counters(hostName: string): TransportCounters {
    return { ...this.tally(hostName) };
  }

  /** Closes and forgets every host not in `hosts` or whose `HostRef` changed. */
  retain(hosts: readonly HostRef[]): void {
    const wanted = new Map(hosts.map((h) => [h.name, h]));
    for (const [name, entry] of this.entries) {
      const ref = wanted.get(name);
      if (!ref || !sameHost(ref, entry.ref)) this.evict(name);
      if (!ref) this.tallies.delete(name);
    }
  }

  /** Closes every connection and aborts connects in progress; the pool is unusable afterwards. */
  closeAll(): void {
    this.closing.abort(new TransportError('Aborted', 'connection pool closed', false));
    for (const name of [...this.entries.keys()]) this.evict(name);
  }

  private async connect(entry: Entry): Promise<HostConnection> {
    const host = entry.ref;
    try {
      const privateKey = await this.privateKey(host);
      const counters = this.tally(host.name);
      const opts = {
        ...this.opts,
        privateKey,
        timeoutMs: this.opts.connectTimeoutMs,
        signal: this.closing.signal,
      };
      // No timeout is set: throwOnTimeout only tells the types the result is never `void`.
      const open = () => HostConnection.open(host, opts, counters);
      entry.conn = await this.handshakes.add(open, { throwOnTimeout: true });
      entry.failures = 0;
      entry.lastError = undefined;
      return entry.conn;
    } catch (e) {
      const err = asHostopError(e, host.name);
      entry.lastError = err;
      entry.retryAt = Date.now() + backoffDelay(entry.failures++, this.backoff);
      throw err;
    } finally {
      entry.connecting = undefined;
    }
  }

  /** Reads each identityFile once; a failed read is not cached, so fixing the file is enough. */
  private privateKey(host: HostRef): Promise<Buffer> {
    const path = host.identityFile;
    if (!path) {
      const msg = `host ${host.name}: no identityFile; hostop authenticates with a key only`;
      return Promise.reject(new TransportError('AuthFailed', msg, false, { host: host.name }));
    }
    let key = this.keys.get(path);
    if (!key) {
      key = readFile(path);
      this.keys.set(path, key);
      key.catch(() => this.keys.delete(path));
    }
    return key.catch((e: unknown) => {
      const msg = `host ${host.name}: cannot read identityFile ${path} (${(e as Error).message})`;
      throw new TransportError('AuthFailed', msg, false, { host: host.name, cause: e });
    });
  }

  private evict(name: string): void {
    this.entries.get(name)?.conn?.close();
    this.entries.delete(name);
  }

  private tally(name: string): TransportCounters {
    let t = this.tallies.get(name);
    if (!t) {
      t = { connectionsOpened: 0, channelsOpened: 0, forwardsOpened: 0, requests: 0 };
      this.tallies.set(name, t);
    }
    return t;
  }
}

/** The fields that make a connection: a change in any of them needs a new one. Labels do not. */
function sameHost(a: HostRef, b: HostRef): boolean {
  return (
    a.address === b.address &&
    a.port === b.port &&
    a.user === b.user &&
    a.hostKey === b.hostKey &&
    a.identityFile === b.identityFile &&
    a.privilege === b.privilege
  );
}

function asHostopError(e: unknown, host: string): HostopError {
  if (e instanceof HostopError) return e;
  return new TransportError('ConnectionLost', `host ${host}: ${(e as Error)?.message ?? String(e)}`, true, {
    host,
    cause: e,
  });
}
