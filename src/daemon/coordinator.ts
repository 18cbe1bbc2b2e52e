import {
  ConsecutiveBreaker,
  ConstantBackoff,
  ExponentialBackoff,
  type IBackoff,
  circuitBreaker,
  handleWhen,
  retry,
} from 'cockatiel';
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  GRPCUnauthenticatedError,
  type IKeyValue,
  type Lease,
  type Watcher,
  isRecoverableError,
} from 'etcd3';
import { EPOCH, type Fence, drawEpoch } from '../apply/apply-scripts.js';
import { HostopError } from '../core/errors.js';
import type { Logger } from '../observe/logger.js';
import type { HostopMetrics } from '../observe/metrics.js';
import { type OwnerRecord, planOwnership } from './shard.js';
import type { FleetCoordination, HostStatus, ResourceStatus } from './status-document.js';

/**
 * Several daemons, one fleet (issue 17), on etcd's v3 API through the npm `etcd3` client.
 *
 * Keys under the prefix (default `/hostop/`):
 *   members/<name>  JSON about the daemon, under its lease: the live member set. Created only if absent
 *                   (a transaction on create_revision 0), so two live daemons never share a name.
 *   owners/<host>   the owning member's name, under its lease. Created only if absent; its create revision is the
 *                   claim's fencing token. A lease that lapses (a daemon killed, paused or cut off) takes its keys
 *                   with it: "the key will be deleted if the lease expires" (etcd API guide, "Lease API";
 *                   https://etcd.io/docs/v3.4/learning/api/#lease-api), and every later claim gets a higher revision
 *                   ("the revision is a global logical clock, incremented for every change", etcd data model,
 *                   https://etcd.io/docs/v3.4/learning/data_model/).
 *   status/<host>   the host's status as its owner last saw it (not under a lease: the last word stays readable).
 *   epoch           the fencing epoch naming this etcd data history (12 hex digits of the time it was drawn, 20
 *                   random), drawn by the first daemon that finds none (created only if absent). Tokens compare
 *                   only within an epoch; a wiped etcd starts its revisions at 1 again, under a newer epoch the
 *                   hosts move to.
 *
 * Every member watches the prefix, agrees on the live member set, and shares the hosts out by rendezvous hashing
 * (shard.ts). Before a changing script runs, its owner proves in one transaction that its key still stands
 * (`confirm`), and the script carries the token to the host, which refuses a lower one than it has seen (the
 * host fence, apply-scripts.ts): a daemon that wakes from a pause after its lease lapsed is stopped by etcd, and,
 * if it had already passed that check, by the host.
 *
 * Enforcing requires a lease this daemon has renewed recently enough: it stops a third of a TTL before the lease
 * could lapse unseen, keeps detecting, and resumes when a renewal succeeds again. etcd keeps leases across a
 * leader change and a restart of the whole cluster, renewing their time to live ("Promote", lessor.go,
 * https://github.com/etcd-io/etcd/blob/v3.4.23/lease/lessor.go), so a short outage costs no host a new owner.
 */

export interface CoordinatorOptions {
  endpoints: string[];
  prefix: string;
  member: string;
  ttlS: number;
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  auth?: { username: string; password: string };
  /** Published in the member key for people looking at etcd (pid, host name, HTTP address). */
  about: Record<string, string | number>;
  metrics: HostopMetrics;
  log: Logger;
  /** The hosts this daemon owns changed: the reconciler re-scopes (adds passes for gained hosts, drops lost ones). */
  onOwnership(): void;
  /** Enforcing started or stopped (a lease renewed in time, or not). */
  onEnforcing(enforcing: boolean): void;
  /** Resolves once no pass of `host` is running: a host is released only after its owner's pass on it ends. */
  idle(host: string): Promise<void>;
}

/** A host's status as its owner published it. */
export interface PublishedStatus {
  owner: string;
  host?: HostStatus;
  resources: ResourceStatus[];
}

/** What `/status` says of the coordination (the unowned hosts are added by fleet-status.ts). */
export type CoordinationStatus = Omit<FleetCoordination, 'unowned'>;

/**
 * How long a unary etcd call may take before it counts as failed. A daemon busy with many SSH handshakes at once
 * (2 cores, a hundred hosts) can leave a call's answer unread for seconds; the lease's own margin is what keeps
 * ownership safe, not this deadline.
 */
const CALL_DEADLINE_MS = 5_000;

export class Coordinator {
  private readonly client: Etcd3;
  private readonly keys: { root: string; members: string; owners: string; status: string; epoch: string };
  private lease?: { lease: Lease; id: string; validUntil: number };
  private hosts: readonly string[] = [];
  private members: string[] = [];
  private readonly owned = new Map<string, string>();
  /** Hosts being handed over: their passes may still finish with this token. */
  private readonly releasing = new Map<string, string>();
  /** Releases under way (one per host). */
  private readonly handing = new Set<string>();
  private readonly statuses = new Map<string, PublishedStatus>();
  private readonly published = new Map<string, { text: string; at: number }>();
  private watcher?: Watcher;
  private syncing?: Promise<void>;
  private syncAgain = false;
  private enforcingNow = false;
  private etcdState: 'connected' | 'lost' = 'lost';
  private reason = 'not registered in etcd yet';
  private renewTimer?: NodeJS.Timeout;
  private tickTimer?: NodeJS.Timeout;
  private registering = false;
  private stopped = false;
  /** The fleet's fencing epoch (`<prefix>epoch`): the fences' second half. */
  private epoch = '';
  private readingEpoch = false;
  /** Orphan statuses being deleted. */
  private readonly dropping = new Set<string>();

  constructor(private readonly o: CoordinatorOptions) {
    const p = o.prefix.endsWith('/') ? o.prefix : `${o.prefix}/`;
    this.keys = {
      root: p,
      members: `${p}members/`,
      owners: `${p}owners/`,
      status: `${p}status/`,
      epoch: `${p}epoch`,
    };
    this.client = this.connect(o.endpoints);
  }

  /** An etcd client to `hosts` with this daemon's TLS, credentials, deadlines and fault handling. */
  private connect(hosts: string[]): Etcd3 {
    const o = this.o;
    return new Etcd3({
      hosts,
      credentials: o.tls && { rootCertificate: o.tls.ca, privateKey: o.tls.key, certChain: o.tls.cert },
      auth: o.auth,
      dialTimeout: CALL_DEADLINE_MS,
      // gRPC's own reconnect backoff grows to 120 s (grpc-js defaults); an etcd back from an outage is retried
      // within a second instead.
      grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 1_000 },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
      faultHandling: {
        // A call that failed on one member (down, or not reachable) is tried once more on the next one; a member
        // that failed thrice rests 2 s (etcd3's own defaults, with shorter waits: connection-pool.js).
        global: retry(handleWhen(isRecoverableError), { maxAttempts: 2, backoff: new ConstantBackoff(50) }),
        host: () =>
          circuitBreaker(handleWhen(isRecoverableError), {
            halfOpenAfter: 2_000,
            breaker: new ConsecutiveBreaker(3),
          }),
        // The default backs a lost watch off up to 30 s; a returning etcd should be seen within a second or two.
        // etcd3 takes the factory and calls next() itself (namespace.js, watch.js), whatever its typing says.
        watchBackoff: new ExponentialBackoff({
          initialDelay: 100,
          maxDelay: 1_000,
        }) as unknown as IBackoff<unknown>,
      },
    });
  }

  /**
   * Joins: a lease, the member key (waiting up to one TTL for a key of the same name to lapse, as after a crash
   * and restart; refused after that), the watch, the first share-out. An etcd that cannot be reached yet (a
   * daemon started before its cluster, as at boot) is waited for, retried every second and said in `status()`;
   * rejects only when the name is held by a live daemon. Resolves at once once stop() was called.
   */
  async start(): Promise<void> {
    this.tick();
    let said = false;
    const untilJoined = async (what: string, step: () => Promise<void>) => {
      for (;;) {
        try {
          return await step();
        } catch (err) {
          if (err instanceof HostopError && !err.retryable) throw err; // a name taken, a garbled epoch
          // Wrong credentials or a role without the prefix: waiting would not mend it. etcd3 authenticates with
          // one endpoint after the other and reports only the last one's error (connection-pool.js, `attempt`):
          // with that one down, a wrong password would look like an outage, so each endpoint is asked alone.
          const denied = accessDenied(err) ? err : this.o.auth && (await this.deniedByAnEndpoint());
          if (denied)
            throw new HostopError(
              'EtcdAccessDenied',
              `etcd refused this daemon${this.o.auth ? ` (user "${this.o.auth.username}")` : ''}: ${denied instanceof Error ? denied.message : String(denied)}; check --etcd-user, --etcd-password-file and the user's role, which must allow reading and writing ${this.keys.root}`,
              false,
              { cause: denied },
            );
          if (this.stopped) return;
          this.etcdState = 'lost';
          this.reason = `etcd unreachable: ${String(err).slice(0, 200)}`;
          if (!said)
            this.o.log.warn({ err: String(err) }, `etcd unreachable while ${what}; retrying every second`);
          said = true;
          await new Promise((r) => setTimeout(r, 1_000));
        }
      }
    };
    await untilJoined('joining', () => this.register(true));
    this.o.log.debug('watching the prefix');
    await untilJoined('starting the watch', () => this.watch());
    if (this.stopped) return;
    this.rereadEpoch(); // a change between register's read and the watch's start is not in the watch
    this.o.log.debug('loading the published statuses');
    await this.loadStatuses();
    this.scheduleSync();
    this.tickTimer = setInterval(() => this.tick(), 250);
    this.tickTimer.unref();
  }

  /** The first refusal of this daemon's credentials or role by any one endpoint asked alone, if there is one. */
  private async deniedByAnEndpoint(): Promise<unknown> {
    const answers = await Promise.all(
      this.o.endpoints.map(async (endpoint) => {
        const alone = this.connect([endpoint]);
        try {
          await alone.get(this.keys.epoch).string();
        } catch (err) {
          return accessDenied(err) ? err : undefined;
        } finally {
          alone.close();
        }
      }),
    );
    return answers.find((a) => a !== undefined);
  }

  /**
   * Watches the whole prefix. The client resumes a lost watch at the revision it had seen; when that revision was
   * compacted meanwhile, etcd cancels the watch and the client gives it up with an `error` (watch.js): it is
   * started afresh, at the present, and a full re-read covers the gap.
   */
  private async watch(): Promise<void> {
    this.count('watch');
    const watcher = await this.client.watch().prefix(this.keys.root).create();
    this.watcher = watcher;
    let saidLost = 0;
    watcher.on('put', (kv) => this.watched(kv, false));
    watcher.on('delete', (kv) => this.watched(kv, true));
    watcher.on('connected', () => {
      void this.loadStatuses();
      this.rereadEpoch();
      this.scheduleSync();
    });
    watcher.on('disconnected', (err) => {
      if (Date.now() - saidLost < 30_000) return; // retried every second while etcd is away: said once
      saidLost = Date.now();
      this.o.log.warn({ err: String(err) }, 'etcd watch lost; reconnecting');
    });
    watcher.on('error', (err) => {
      this.o.log.warn({ err: String(err) }, 'etcd watch ended; watching anew');
      const again = () => {
        if (this.stopped) return;
        this.watch().then(
          () => {
            void this.loadStatuses();
            this.rereadEpoch();
            this.scheduleSync();
          },
          () => setTimeout(again, 1_000).unref(),
        );
      };
      setTimeout(again, 1_000).unref();
    });
  }

  /** The hosts of the snapshot in force: shared out anew. */
  setHosts(hosts: readonly string[]): void {
    this.hosts = [...hosts];
    this.scheduleSync();
  }

  owns(host: string): boolean {
    return this.owned.has(host);
  }

  /**
   * Whether this daemon may change hosts now: its lease was renewed less than two thirds of a TTL ago. Read from
   * the clock, not from the last tick, so a daemon that wakes from a pause knows at once.
   */
  enforcing(): boolean {
    return this.lease !== undefined && Date.now() < this.lease.validUntil - (this.o.ttlS * 1000) / 3;
  }

  /** The fence a changing script on `host` carries; undefined once the host is not this daemon's. */
  fenceOf(host: string): Fence | undefined {
    const token = this.owned.get(host) ?? this.releasing.get(host);
    return token === undefined ? undefined : { token, member: this.o.member, epoch: this.epoch };
  }

  /** A host held the fence of another epoch, and moved to this one (apply-scripts.ts fenceCheck). */
  fenceAdopted(host: string, from: { epoch: string; token: string }): void {
    this.o.log.warn(
      { host, fromEpoch: from.epoch, fromRevision: from.token, epoch: this.epoch },
      "the host was fenced in another epoch of the fleet's etcd; it follows this one now",
    );
  }

  /**
   * The fleet's fencing epoch: read from `<prefix>epoch`, or, where there is none (a new or wiped etcd, or an
   * operator deleted it after restoring a snapshot), drawn at random and created if still absent, so that every
   * daemon ends up with the one that etcd kept.
   */
  private async readEpoch(): Promise<void> {
    const drawn = drawEpoch();
    this.count('txn');
    const res = await this.client
      .if(this.keys.epoch, 'Create', '==', 0)
      .then(this.client.put(this.keys.epoch).value(drawn))
      .else(this.client.get(this.keys.epoch))
      .commit();
    const epoch = res.succeeded
      ? drawn
      : (res.responses[0]?.response_range?.kvs?.[0]?.value?.toString() ?? '');
    if (!EPOCH.test(epoch))
      throw new HostopError(
        'BadEpoch',
        `${this.keys.epoch} in etcd holds no fencing epoch (32 hex digits); delete it and the daemons draw a new one`,
        false,
      );
    if (epoch === this.epoch) return;
    if (this.epoch)
      this.o.log.warn({ from: this.epoch, epoch }, "the fleet's fencing epoch changed; hosts will follow it");
    else if (res.succeeded) this.o.log.info({ epoch }, 'drew a new fencing epoch for this etcd');
    this.epoch = epoch;
  }

  /**
   * Proves in etcd, just before a write, that `host`'s key is still this claim's (same create revision, same
   * member): a lapsed lease or a new owner fails the comparison. Throws Fenced, or CoordinationLost when etcd
   * cannot answer; either way nothing is written.
   */
  async confirm(host: string, fence: Fence): Promise<void> {
    if (!this.enforcing())
      throw new HostopError('CoordinationLost', `not enforcing: ${this.reason}; nothing written`, true, {
        host,
      });
    const key = this.keys.owners + host;
    let ok: boolean;
    try {
      this.count('txn');
      const res = await this.client
        .if(key, 'Create', '==', fence.token)
        .and(key, 'Value', '==', fence.member)
        .and(this.keys.epoch, 'Value', '==', fence.epoch)
        .commit();
      ok = res.succeeded;
    } catch (err) {
      throw new HostopError(
        'CoordinationLost',
        `etcd did not confirm ownership: ${String(err)}; nothing written`,
        true,
        {
          host,
          cause: err,
        },
      );
    }
    if (!ok) {
      // Another owner, or another epoch: the watch may have missed the epoch's change (a restored etcd resumes
      // below the revision it had reached), so it is read again as well.
      this.rereadEpoch();
      this.scheduleSync();
      throw new HostopError('Fenced', 'this daemon no longer owns the host in etcd; nothing written', false, {
        host,
      });
    }
  }

  /**
   * Publishes `host`'s status for the other daemons' `/status` (when its content changed, or once a minute so the
   * probe time stays fresh).
   */
  publish(host: string, status: Omit<PublishedStatus, 'owner'>): void {
    if (!this.owned.has(host) || !this.lease) return;
    const doc: PublishedStatus = { owner: this.o.member, ...status };
    const text = JSON.stringify(doc);
    const content = JSON.stringify({ ...doc, host: doc.host && { ...doc.host, lastProbeTime: undefined } });
    const last = this.published.get(host);
    if (last?.text === content && Date.now() - last.at < 60_000) return;
    this.published.set(host, { text: content, at: Date.now() });
    this.statuses.set(host, doc);
    this.count('put');
    this.client
      .put(this.keys.status + host)
      .value(text)
      .exec()
      .catch((err) => {
        this.published.delete(host);
        this.o.log.debug({ host, err: String(err) }, 'publishing a host status to etcd failed');
      });
  }

  /** The owner of each host of the desired state as this daemon last saw it, and the statuses published. */
  fleet(): { owners: Map<string, string>; statuses: Map<string, PublishedStatus> } {
    const owners = new Map<string, string>();
    for (const [h, rec] of this.ownerRecords) owners.set(h, rec.member);
    for (const h of this.owned.keys()) owners.set(h, this.o.member);
    return { owners, statuses: this.statuses };
  }

  status(): CoordinationStatus {
    return {
      member: this.o.member,
      etcd: this.etcdState,
      enforcing: this.enforcingNow,
      ...(this.enforcingNow ? {} : { reason: this.reason }),
      members: [...this.members],
      leaseTtlSeconds: this.o.ttlS,
      owned: this.owned.size,
    };
  }

  /** Leaves: releases every host (their new owners claim them at once) and revokes the lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.renewTimer);
    clearInterval(this.tickTimer);
    // cancel() waits for the server's answer, which a silent connection never gives.
    await Promise.race([this.watcher?.cancel(), new Promise((r) => setTimeout(r, 2_000).unref())]).catch(
      () => undefined,
    );
    const lease = this.lease;
    this.lease = undefined;
    this.owned.clear();
    if (lease) {
      this.count('revoke');
      await lease.lease.revoke().catch(() => undefined);
    }
    this.client.close();
  }

  private ownerRecords = new Map<string, OwnerRecord>();

  private count(op: string): void {
    this.o.metrics.recordEtcdRequest(op);
  }

  /**
   * A lease, then the member key under it. At start a name held by another lease is waited on for one TTL (a
   * crashed daemon's key lapses), then refused; after a loss it is retried until it can be taken.
   */
  private async register(first: boolean): Promise<void> {
    const deadline = Date.now() + (this.o.ttlS + 2) * 1000;
    for (;;) {
      const lease = this.client.lease(this.o.ttlS, { autoKeepAlive: false });
      lease.on('lost', () => undefined); // handled where keepaliveOnce rejects
      const sent = Date.now();
      this.count('grant');
      const id = await lease.grant();
      await this.readEpoch().catch(async (err) => {
        await lease.revoke().catch(() => undefined);
        throw err;
      });
      const key = this.keys.members + this.o.member;
      const about = JSON.stringify({
        member: this.o.member,
        ...this.o.about,
        since: new Date().toISOString(),
      });
      this.count('txn');
      const res = await this.client
        .if(key, 'Create', '==', 0)
        .then(this.client.put(key).value(about).lease(id))
        .else(this.client.get(key))
        .commit()
        .catch(async (err) => {
          await lease.revoke().catch(() => undefined);
          throw err;
        });
      if (this.stopped) {
        await lease.revoke().catch(() => undefined);
        return;
      }
      if (res.succeeded) {
        this.lease = { lease, id, validUntil: sent + this.o.ttlS * 1000 };
        this.etcdState = 'connected';
        this.o.log.info({ member: this.o.member, lease: id, ttlS: this.o.ttlS }, 'joined the fleet in etcd');
        this.scheduleRenew();
        this.tick();
        return;
      }
      this.count('revoke');
      await lease.revoke().catch(() => undefined);
      const holder = res.responses[0]?.response_range?.kvs?.[0]?.value?.toString() ?? '';
      if (first && Date.now() > deadline)
        throw new HostopError(
          'MemberNameTaken',
          `member name "${this.o.member}" is held by a live daemon (${holder.slice(0, 300)}); give this one another --member`,
          false,
        );
      this.reason = `member name "${this.o.member}" is held by another daemon; waiting for it to lapse`;
      await new Promise((r) => setTimeout(r, 1_000));
      if (this.stopped) return;
    }
  }

  /** Renews the lease every TTL/3; a renewal etcd answers with "no such lease" means the lease is gone. */
  private scheduleRenew(failed = false): void {
    // After a failed round, again soon: the next TTL/3 could be past the lease's end.
    this.renewTimer = setTimeout(() => void this.renew(), failed ? 500 : (this.o.ttlS * 1000) / 3);
    this.renewTimer.unref();
  }

  private async renew(): Promise<void> {
    const current = this.lease;
    if (!current || this.stopped) return;
    const sent = Date.now();
    let failure: unknown;
    // A renewal is a stream, which the client's retry policy does not cover: a member that is down fails it at
    // once, and the next attempt goes to the next member.
    // Long enough for a busy etcd to answer: an answer that comes late renews the lease on the server all the same,
    // and a daemon that kept its lease without ever counting a renewal would hold hosts it never enforces.
    const per = CALL_DEADLINE_MS / 2;
    for (
      let attempt = 0;
      attempt <= this.o.endpoints.length && Date.now() - sent < CALL_DEADLINE_MS;
      attempt++
    ) {
      try {
        this.count('keepalive');
        const res = await current.lease.keepaliveOnce({ deadline: Date.now() + per });
        failure = undefined;
        if (this.lease === current) {
          current.validUntil = sent + Number(res.TTL) * 1000;
          if (this.etcdState === 'lost') this.o.log.info('etcd answers again; lease renewed');
          this.etcdState = 'connected';
          this.tick();
        }
        break;
      } catch (err) {
        failure = err;
        this.o.log.debug(
          { attempt, ms: Date.now() - sent, err: String(err) },
          'lease renewal attempt failed',
        );
        if (err instanceof EtcdLeaseInvalidError) break;
      }
    }
    if (failure !== undefined && this.lease === current) {
      if (failure instanceof EtcdLeaseInvalidError) {
        this.leaseGone('etcd says the lease has expired');
        return;
      }
      if (this.etcdState === 'connected')
        this.o.log.warn({ err: String(failure) }, 'etcd unreachable: lease not renewed');
      this.etcdState = 'lost';
      this.reason = `etcd unreachable since ${new Date(sent).toISOString()}`;
    }
    if (this.stopped || this.lease !== current) return;
    this.scheduleRenew(failure !== undefined);
  }

  /**
   * Local checks, four times a second: enforce only with a third of a TTL of lease left. A lease that lapsed by
   * this clock is not given up here: only etcd can say it is gone (a renewal answered "no such lease"); after an
   * outage of the whole cluster it is usually still there, and so are this daemon's hosts.
   */
  private tick(): void {
    if (this.stopped) return;
    const enforcing = this.enforcing();
    if (enforcing !== this.enforcingNow) {
      this.enforcingNow = enforcing;
      if (enforcing) this.reason = '';
      else if (this.lease && this.etcdState === 'connected') this.reason = 'lease renewal is late';
      this.o.log[enforcing ? 'info' : 'warn'](
        { member: this.o.member, reason: enforcing ? undefined : this.reason },
        enforcing
          ? 'enforcing: this daemon holds its lease'
          : 'not enforcing (detecting only) until the lease is renewed',
      );
      this.o.onEnforcing(enforcing);
    }
    this.o.metrics.setCoordination(this.o.member, enforcing, this.members.length);
  }

  /** The lease is gone: every host with it (others claim them). Join again with a new lease. */
  private leaseGone(why: string): void {
    const lost = this.lease;
    if (!lost) return;
    this.lease = undefined;
    clearTimeout(this.renewTimer);
    this.reason = why;
    this.o.log.warn({ member: this.o.member, lease: lost.id, hosts: this.owned.size }, `lease lost: ${why}`);
    this.dropAll();
    this.tick();
    void this.rejoin();
  }

  private dropAll(): void {
    for (let i = 0; i < this.owned.size; i++) this.o.metrics.recordOwnershipChange('lost');
    this.owned.clear();
    this.releasing.clear();
    this.o.onOwnership();
  }

  private async rejoin(): Promise<void> {
    if (this.registering) return;
    this.registering = true;
    try {
      while (!this.stopped && !this.lease) {
        try {
          await this.register(false);
        } catch (err) {
          this.reason = `etcd unreachable: ${String(err).slice(0, 200)}`;
          await new Promise((r) => setTimeout(r, 1_000));
        }
      }
    } finally {
      this.registering = false;
    }
    this.scheduleSync();
  }

  private watched(kv: IKeyValue, deleted: boolean): void {
    const key = kv.key.toString();
    if (key === this.keys.epoch) {
      this.rereadEpoch();
      return;
    }
    if (key.startsWith(this.keys.status)) {
      const host = key.slice(this.keys.status.length);
      if (deleted) this.statuses.delete(host);
      else {
        const doc = parsePublished(kv.value.toString());
        if (doc) this.statuses.set(host, doc);
      }
      return;
    }
    this.scheduleSync();
  }

  /**
   * The epoch key changed, or may have (a watch restarted, a confirmation failed): read it again, or draw a new
   * one. One read at a time; a failed one is retried a second later.
   */
  private rereadEpoch(): void {
    if (this.readingEpoch || this.stopped) return;
    this.readingEpoch = true;
    this.readEpoch().then(
      () => {
        this.readingEpoch = false;
      },
      (err) => {
        this.o.log.warn({ err: String(err) }, 'reading the fencing epoch failed; retrying');
        setTimeout(() => {
          this.readingEpoch = false;
          this.rereadEpoch();
        }, 1_000).unref();
      },
    );
  }

  private async loadStatuses(): Promise<void> {
    try {
      this.count('range');
      const res = await this.client.getAll().prefix(this.keys.status).exec();
      this.statuses.clear();
      for (const kv of res.kvs) {
        const doc = parsePublished(kv.value.toString());
        if (doc) this.statuses.set(kv.key.toString().slice(this.keys.status.length), doc);
      }
    } catch (err) {
      this.o.log.debug({ err: String(err) }, 'reading the published statuses failed');
    }
  }

  /** Runs `sync` once now, or once more after the one running. */
  private scheduleSync(): void {
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = (async () => {
      do {
        this.syncAgain = false;
        await this.sync().catch((err) => {
          this.o.log[this.etcdState === 'lost' ? 'debug' : 'warn'](
            { err: String(err) },
            'sharing out the hosts failed; retrying',
          );
          setTimeout(() => this.scheduleSync(), 1_000).unref();
        });
      } while (this.syncAgain && !this.stopped);
    })().finally(() => {
      this.syncing = undefined;
    });
  }

  /** Reads members and owners, then claims and releases as planOwnership says. */
  private async sync(): Promise<void> {
    const current = this.lease;
    if (!current || this.stopped) return;
    this.count('range');
    this.count('range');
    const [m, o] = await Promise.all([
      this.client.getAll().prefix(this.keys.members).keys(),
      this.client.getAll().prefix(this.keys.owners).exec(),
    ]);
    if (this.lease !== current) return;
    this.members = m.map((k) => k.slice(this.keys.members.length)).sort();
    this.ownerRecords = new Map(
      o.kvs.map((kv) => [
        kv.key.toString().slice(this.keys.owners.length),
        { member: kv.value.toString(), lease: String(kv.lease), token: String(kv.create_revision) },
      ]),
    );
    this.dropOrphanStatuses();
    const plan = planOwnership(this.o.member, current.id, this.hosts, this.members, this.ownerRecords);
    const before = new Set(this.owned.keys());
    const release = new Set(plan.release);
    for (const [h, token] of this.owned)
      if (!plan.owned.has(h)) {
        if (release.has(h)) this.releasing.set(h, token);
        this.owned.delete(h);
      }
    for (const [h, token] of plan.owned) if (!this.releasing.has(h)) this.owned.set(h, token);
    const claims = await Promise.allSettled(plan.claim.map((h) => this.claim(h, current.id)));
    this.ownershipChanged(before);
    if (this.lease !== current) return; // lost meanwhile: dropAll has run, nothing of this lease is handed over
    for (const h of release) void this.release(h, current.id);
    const failed = claims.find((c): c is PromiseRejectedResult => c.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async claim(host: string, lease: string): Promise<void> {
    const key = this.keys.owners + host;
    this.count('txn');
    const res = await this.client
      .if(key, 'Create', '==', 0)
      .then(this.client.put(key).value(this.o.member).lease(lease))
      .commit();
    if (res.succeeded && this.lease?.id === lease) this.owned.set(host, String(res.header.revision));
  }

  /**
   * Waits for the pass on a host no longer this daemon's to end, then deletes its key (if still this lease's),
   * and its published status too when the host left the desired state (else the next owner overwrites it).
   */
  private async release(host: string, lease: string): Promise<void> {
    if (this.handing.has(host)) return;
    this.handing.add(host);
    if (!this.releasing.has(host)) this.releasing.set(host, this.ownerRecords.get(host)?.token ?? '');
    try {
      await this.o.idle(host);
      const key = this.keys.owners + host;
      const gone = !this.hosts.includes(host);
      this.count('txn');
      await this.client
        .if(key, 'Value', '==', this.o.member)
        .and(key, 'Lease', '==', lease)
        .then(
          this.client.delete().key(key),
          ...(gone ? [this.client.delete().key(this.keys.status + host)] : []),
        )
        .commit();
      if (gone) this.published.delete(host);
      this.o.log.info(
        { host },
        gone ? 'host left the desired state: key and status deleted' : 'host handed over',
      );
    } catch (err) {
      this.o.log.warn({ host, err: String(err) }, 'handing a host over failed; trying again');
      setTimeout(() => this.scheduleSync(), 1_000).unref();
    } finally {
      this.releasing.delete(host);
      this.handing.delete(host);
    }
  }

  /**
   * The published statuses of hosts that left the desired state while their owner was gone (so no owner released
   * them): deleted by whichever daemon sees them, provided the host is still unowned.
   */
  private dropOrphanStatuses(): void {
    if (this.hosts.length === 0) return; // no desired state loaded yet
    const wanted = new Set(this.hosts);
    for (const h of this.statuses.keys()) {
      if (wanted.has(h) || this.ownerRecords.has(h) || this.dropping.has(h)) continue;
      this.dropping.add(h);
      const owner = this.keys.owners + h;
      this.count('txn');
      this.client
        .if(owner, 'Create', '==', 0)
        .then(this.client.delete().key(this.keys.status + h))
        .commit()
        .catch((err) => this.o.log.debug({ host: h, err: String(err) }, 'deleting an orphan status failed'))
        .finally(() => this.dropping.delete(h));
    }
  }

  private ownershipChanged(before: ReadonlySet<string>): void {
    let changed = false;
    for (const h of this.owned.keys())
      if (!before.has(h)) {
        changed = true;
        this.o.metrics.recordOwnershipChange('gained');
      }
    for (const h of before)
      if (!this.owned.has(h)) {
        changed = true;
        this.o.metrics.recordOwnershipChange('lost');
      }
    if (changed) {
      this.o.log.info({ owned: this.owned.size, members: this.members }, 'hosts shared out anew');
      this.o.onOwnership();
    }
    this.tick();
  }
}

function parsePublished(text: string): PublishedStatus | undefined {
  try {
    const doc = JSON.parse(text) as PublishedStatus;
    return typeof doc?.owner === 'string' && Array.isArray(doc.resources) ? doc : undefined;
  } catch {
    return undefined;
  }
}

/** etcd refused the credentials or the role: waiting would not mend it. */
function accessDenied(err: unknown): boolean {
  return (
    err instanceof EtcdAuthenticationFailedError ||
    err instanceof EtcdPermissionDeniedError ||
    err instanceof GRPCUnauthenticatedError ||
    // --etcd-user given to an etcd without authentication (rpctypes/error.go ErrGRPCAuthNotEnabled)
    /authentication is not enabled/.test(String(err))
  );
}
