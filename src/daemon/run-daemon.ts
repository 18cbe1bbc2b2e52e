import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHttpServer } from '../observe/http-server.js';
import { type Logger, createLogger } from '../observe/logger.js';
import { createMetrics } from '../observe/metrics.js';
import { GIT_NO_HOOKS } from '../source/load.js';
import { watchPaths } from '../source/watch-dir.js';
import { ConnectionPool } from '../ssh/connection-pool.js';
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
  const reconciler = new Reconciler({
    ...o,
    pool,
    metrics,
    status,
    log,
    packageCache: join(o.stateDir, 'packages'),
  });
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
      ready: () => reconciler.ready(),
      status: () => status.snapshot(),
    },
  });
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
  const watcher = watchPaths(
    [o.dir, ...(o.inventory ? [o.inventory] : [])],
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
