import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Reconciler } from '../daemon/reconciler.js';
import { createFileStatusPersistence } from '../daemon/status-file.js';
import { StatusStore } from '../daemon/status-store.js';
import { startHttpServer } from '../observe/http-server.js';
import { createLogger } from '../observe/logger.js';
import { createMetrics } from '../observe/metrics.js';
import { watchPaths } from '../source/watch-dir.js';
import { ConnectionPool } from '../ssh/connection-pool.js';
import { type CommandSpec, UsageError, parseDuration, parsePositiveInt } from './args.js';

/** `hostop run`: the daemon. This function is its composition root: every adapter is created and wired here. */
export const runCommand: CommandSpec = {
  name: 'run',
  summary:
    'Runs the reconciler: watches the desired-state directory, probes every host on changes and on each resync, ' +
    'converges drift (or only reports it in detect mode), and serves /metrics, /healthz, /readyz and /status.',
  usage: 'hostop run [DIR] [options]',
  options: {
    inventory: { type: 'string' },
    mode: { type: 'string' },
    resync: { type: 'string' },
    concurrency: { type: 'string' },
    listen: { type: 'string' },
    'state-dir': { type: 'string' },
    'git-pull': { type: 'string' },
    'no-prune': { type: 'boolean' },
    'http-token-file': { type: 'string' },
    'log-level': { type: 'string' },
    'shutdown-grace': { type: 'string' },
    'probe-timeout': { type: 'string' },
  },
  help: [
    'DIR                    desired-state directory (default: desired-state)',
    '--inventory FILE       Host resources that replace same-named hosts (e.g. .lab/hosts.yaml)',
    '--mode enforce|detect  enforce converges (default); detect only reports drift',
    '--resync D             probe every host this often, ±10% jitter (default 60s)',
    '--concurrency N        hosts reconciled at once (default 32)',
    '--listen HOST:PORT     HTTP endpoint (default 127.0.0.1:9464; loopback unless you say otherwise)',
    '--http-token-file F    require "Authorization: Bearer <token>" (from F) on /metrics and /status',
    '--state-dir DIR        where status survives restarts (default /var/lib/hostop)',
    '--git-pull D           fetch and fast-forward DIR from its git remote this often',
    '--no-prune             never delete files whose resource left the desired state',
    '--shutdown-grace D     how long in-flight applies may finish on SIGTERM (default 60s)',
    '--probe-timeout D      deadline of one probe round trip; a host slower than this counts as down (default 30s)',
    '--log-level L          pino level (default info)',
    'Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads the desired state.',
  ],
  async run(values, positionals) {
    const dir = positionals[0] ?? 'desired-state';
    const mode = (values.mode as string | undefined) ?? 'enforce';
    if (mode !== 'enforce' && mode !== 'detect')
      throw new UsageError(`--mode: expected enforce or detect, got ${JSON.stringify(mode)}`);
    const resyncMs = parseDuration(String(values.resync ?? '60s'), '--resync');
    const concurrency = values.concurrency ? parsePositiveInt(values.concurrency, '--concurrency') : 32;
    const graceMs = parseDuration(String(values['shutdown-grace'] ?? '60s'), '--shutdown-grace');
    const token = values['http-token-file']
      ? readFileSync(String(values['http-token-file']), 'utf8').trim()
      : undefined;
    const stateDir = (values['state-dir'] as string | undefined) ?? '/var/lib/hostop';
    const probeTimeoutMs = parseDuration(String(values['probe-timeout'] ?? '30s'), '--probe-timeout');

    const status = new StatusStore({ persistence: createFileStatusPersistence(stateDir) });
    // The logger masks the secrets of the snapshot in force, which only the reconciler (created below) knows.
    const secrets: { of?: Reconciler } = {};
    const log = createLogger({
      level: values['log-level'] as string | undefined,
      knownSecrets: () => secrets.of?.secrets() ?? [],
    });
    const loadedStatus = await status.load();
    if (loadedStatus.state === 'corrupt' || loadedStatus.state === 'unreadable')
      log.warn({ status: loadedStatus }, 'previous status could not be used; starting empty');
    const metrics = createMetrics();
    const pool = new ConnectionPool();
    const reconciler = new Reconciler({
      dir,
      inventory: values.inventory as string | undefined,
      mode,
      prune: !values['no-prune'],
      resyncMs,
      concurrency,
      probeTimeoutMs,
      pool,
      metrics,
      status,
      log,
    });
    const http = await startHttpServer({
      listen: values.listen as string | undefined,
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
    secrets.of = reconciler;
    log.info({ dir, mode, listen: `${http.address}:${http.port}`, resyncMs, concurrency }, 'hostop running');
    reconciler.start();
    const watcher = watchPaths(
      [dir, ...(values.inventory ? [String(values.inventory)] : [])],
      100,
      () => reconciler.reload(),
      (e) => log.warn({ err: e }, 'watch error'),
    );
    const pullTimer = values['git-pull']
      ? startGitPull(dir, parseDuration(String(values['git-pull']), '--git-pull'), log)
      : undefined;

    return new Promise<number>((resolve) => {
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal, graceMs }, 'stopping: no new work, waiting for in-flight passes');
        if (pullTimer) clearInterval(pullTimer);
        await watcher.close();
        const report = await reconciler.stop(graceMs);
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
        reconciler.reload();
        reconciler.resyncAll();
      });
    });
  },
};

/** `git pull --ff-only` on a timer; the watcher then sees the new files. Failures are logged, never fatal. */
function startGitPull(dir: string, everyMs: number, log: ReturnType<typeof createLogger>): NodeJS.Timeout {
  const t = setInterval(() => {
    execFile(
      'git',
      ['-C', dir, 'pull', '--ff-only', '--quiet'],
      { timeout: Math.min(everyMs, 120_000) },
      (err, _out, stderr) => {
        if (err) log.warn({ stderr: stderr.slice(0, 2000) }, 'git pull failed; keeping the current checkout');
      },
    );
  }, everyMs);
  t.unref();
  return t;
}
