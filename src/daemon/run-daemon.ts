import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LISTEN, startHttpServer } from '../observe/http-server.js';
import { type Logger, createLogger } from '../observe/logger.js';
import { type HostopMetrics, createMetrics } from '../observe/metrics.js';
import { GIT_NO_HOOKS, gitHeadLog } from '../source/load.js';
import { watchPaths } from '../source/watch-dir.js';
import { ConnectionPool } from '../ssh/connection-pool.js';
import { Coordinator } from './coordinator.js';
import { FencedExecutors } from './fenced-executors.js';
import { fleetStatus } from './fleet-status.js';
import { Reconciler } from './reconciler.js';
import { createFileStatusPersistence } from './status-file.js';
import { StatusStore } from './status-store.js';

export interface DaemonOptions {
  dir: string;
  mode: 'enforce' | 'detect';
  inventory?: string;
  resyncMs: number;
  /** Resync of hosts without a working watch (equal to resyncMs when watches are off). */
  fallbackResyncMs: number;
  watch: 'auto' | 'poll' | 'off';
  concurrency: number;
  graceMs: number;
  probeTimeoutMs: number;
  gitPullMs?: number;
  tokenFile?: string;
  stateDir: string;
  listen?: string;
  prune: boolean;
  logLevel?: string;
  /** Several daemons sharing the fleet through etcd (issue 17); absent: this daemon reconciles every host. */
  etcd?: EtcdOptions;
}

export interface EtcdOptions {
  endpoints: string[];
  prefix: string;
  member: string;
  leaseTtlS: number;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  user?: string;
  passwordFile?: string;
}

/**
 * The daemon's composition root: every adapter is created and wired here. Resolves with the exit code once a
 * SIGTERM/SIGINT has stopped it (in-flight passes finish within `graceMs`); SIGHUP reloads the desired state.
 */
export async function runDaemon(o: DaemonOptions): Promise<number> {
  const token = o.tokenFile ? readFileSync(o.tokenFile, 'utf8').trim() : undefined;
  const status = new StatusStore({ persistence: createFileStatusPersistence(o.stateDir) });
  // The logger masks the secrets of the snapshot in force, which only the reconciler (created below) knows.
  const secrets: { of?: Reconciler } = {};
  const log = createLogger({ level: o.logLevel, knownSecrets: () => secrets.of?.secrets() ?? [] });
  const loadedStatus = await status.load();
  if (loadedStatus.state === 'corrupt' || loadedStatus.state === 'unreadable') {
    log.warn({ status: loadedStatus }, 'previous status could not be used; starting empty');
  }
  const metrics = createMetrics();
  const pool = new ConnectionPool();
  const late: { reconciler?: Reconciler } = {};
  const coordinator = o.etcd && createCoordinator(o.etcd, o.listen, metrics, log, late);
  const reconciler = new Reconciler({
    ...o,
    pool,
    metrics,
    status,
    log,
    packageCache: join(o.stateDir, 'packages'),
    ...(coordinator && {
      scope: coordinator,
      executors: new FencedExecutors(pool, coordinator),
      onRecorded: (host: string) => coordinator.publish(host, status.hostView(host)),
    }),
  });
  late.reconciler = reconciler;
  secrets.of = reconciler;
  const http = await startHttpServer({
    listen: o.listen,
    token,
    log,
    routes: {
      metrics: async () => ({
        contentType: metrics.registry.contentType,
        body: await metrics.registry.metrics(),
      }),
      ready: () => reconciler.ready() && (coordinator?.enforcing() ?? true),
      notReadyReason: () =>
        coordinator && !coordinator.enforcing()
          ? `not enforcing: ${coordinator.status().reason || 'no valid etcd lease'} (detecting only)`
          : reconciler.ready()
            ? undefined
            : 'first passes not done',
      status: () =>
        coordinator ? fleetStatus(status.snapshot(), reconciler.hosts(), coordinator) : status.snapshot(),
    },
  });
  log.debug({ listen: `${http.address}:${http.port}` }, 'serving http');
  if (coordinator) {
    // After the HTTP server, so that a daemon waiting for its etcd cluster answers /healthz and says why it is
    // not ready.
    try {
      await coordinator.start();
    } catch (err) {
      await coordinator.stop();
      await http.close();
      throw err;
    }
  }
  log.info(
    {
      dir: o.dir,
      mode: o.mode,
      listen: `${http.address}:${http.port}`,
      resyncMs: o.resyncMs,
      fallbackResyncMs: o.fallbackResyncMs,
      watch: o.watch,
      concurrency: o.concurrency,
    },
    'hostop running',
  );
  reconciler.start();
  const headLog = await gitHeadLog(o.dir);
  const watcher = watchPaths(
    [o.dir, ...(o.inventory ? [o.inventory] : []), ...(headLog ? [headLog] : [])],
    100,
    () => void reconciler.reload(),
    (e) => log.warn({ err: e }, 'watch error'),
  );
  const pullTimer = o.gitPullMs ? startGitPull(o.dir, o.gitPullMs, log) : undefined;

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal, graceMs: o.graceMs }, 'stopping: no new work, waiting for in-flight passes');
      if (pullTimer) clearInterval(pullTimer);
      await watcher.close();
      const report = await reconciler.stop(o.graceMs);
      if (report.aborted.length)
        log.warn({ hosts: report.aborted }, 'aborted passes still running at the end of the grace period');
      // Its hosts are released at once (the other members claim them) rather than after the lease lapses.
      await coordinator?.stop();
      pool.closeAll();
      await http.close();
      await status.close();
      log.info('stopped');
      resolve(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
    process.on('SIGHUP', () => {
      log.info('SIGHUP: reloading the desired state');
      void reconciler.reload().then(() => reconciler.resyncAll());
    });
  });
}

/** The etcd coordination of a daemon that shares the fleet; the reconciler it drives is created after it. */
function createCoordinator(
  e: EtcdOptions,
  listen: string | undefined,
  metrics: HostopMetrics,
  log: Logger,
  late: { reconciler?: Reconciler },
): Coordinator {
  const read = (f: string | undefined) => (f === undefined ? undefined : readFileSync(f));
  const ca = read(e.caFile);
  return new Coordinator({
    endpoints: e.endpoints,
    prefix: e.prefix,
    member: e.member,
    ttlS: e.leaseTtlS,
    tls: ca && { ca, cert: read(e.certFile), key: read(e.keyFile) },
    auth: e.user
      ? { username: e.user, password: readFileSync(e.passwordFile ?? '', 'utf8').trim() }
      : undefined,
    about: { pid: process.pid, hostname: hostname(), listen: listen ?? DEFAULT_LISTEN },
    metrics,
    log,
    onOwnership: () => late.reconciler?.rescope(),
    onEnforcing: (enforcing) => {
      late.reconciler?.rescope();
      if (enforcing) late.reconciler?.resyncAll();
    },
    idle: (host) => late.reconciler?.idle(host) ?? Promise.resolve(),
  });
}

/** `git pull --ff-only` on a timer; the watcher then sees the new files. Failures are logged, never fatal. */
function startGitPull(dir: string, everyMs: number, log: Logger): NodeJS.Timeout {
  const t = setInterval(() => {
    execFile(
      'git',
      [...GIT_NO_HOOKS, '-C', dir, 'pull', '--ff-only', '--quiet'],
      { timeout: Math.min(everyMs, 120_000) },
      (err, _out, stderr) => {
        if (err) log.warn({ stderr: stderr.slice(0, 2000) }, 'git pull failed; keeping the current checkout');
      },
    );
  }, everyMs);
  t.unref();
  return t;
}
