import { Option } from 'commander';
import { dirCommand, durationOption, exits, positiveIntOption } from './args.js';

interface RunOptions {
  inventory?: string;
  mode: 'enforce' | 'detect';
  resync: number;
  concurrency: number;
  listen?: string;
  httpTokenFile?: string;
  stateDir: string;
  gitPull?: number;
  prune: boolean;
  shutdownGrace: number;
  probeTimeout: number;
  logLevel?: string;
}

/** `hostop run`: the daemon (wired together in daemon/run-daemon.ts). */
export const runCommand = dirCommand(
  'run',
  'Runs the reconciler: watches the desired-state directory, probes every host on changes and on each resync, ' +
    'converges drift (or only reports it in detect mode), and serves /metrics, /healthz, /readyz and /status.',
)
  .addOption(
    new Option('--mode <MODE>', 'enforce converges; detect only reports drift')
      .choices(['enforce', 'detect'])
      .default('enforce'),
  )
  .addOption(durationOption('--resync <D>', 'probe every host this often, ±10% jitter', '60s'))
  .addOption(positiveIntOption('--concurrency <N>', 'hosts reconciled at once', 32))
  .option(
    '--listen <HOST:PORT>',
    'HTTP endpoint, loopback unless you say otherwise (default: 127.0.0.1:9464)',
  )
  .option('--http-token-file <F>', 'require "Authorization: Bearer <token>" (from F) on /metrics and /status')
  .option('--state-dir <DIR>', 'where status survives restarts', '/var/lib/hostop')
  .addOption(durationOption('--git-pull <D>', 'fetch and fast-forward DIR from its git remote this often'))
  .option('--no-prune', 'never delete files whose resource left the desired state')
  .addOption(
    durationOption('--shutdown-grace <D>', 'how long in-flight applies may finish on SIGTERM', '60s'),
  )
  .addOption(
    durationOption(
      '--probe-timeout <D>',
      'deadline of one probe round trip; a host slower than this counts as down',
      '30s',
    ),
  )
  .option('--log-level <L>', 'pino level (default: info)')
  .addHelpText('after', '\nSignals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads the desired state.')
  .action(
    exits(async (dir: string, opts: RunOptions) => {
      // The daemon's adapters (watcher, HTTP, metrics, logger) load only when the daemon runs.
      const { runDaemon } = await import('../daemon/run-daemon.js');
      return runDaemon({
        dir,
        mode: opts.mode,
        inventory: opts.inventory,
        resyncMs: opts.resync,
        concurrency: opts.concurrency,
        graceMs: opts.shutdownGrace,
        probeTimeoutMs: opts.probeTimeout,
        gitPullMs: opts.gitPull,
        tokenFile: opts.httpTokenFile,
        stateDir: opts.stateDir,
        listen: opts.listen,
        prune: opts.prune,
        logLevel: opts.logLevel,
      });
    }),
  );
