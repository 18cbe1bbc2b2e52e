import { Option } from 'commander';
import { dirCommand, durationOption, exits, positiveIntOption } from './args.js';

interface RunOptions {
  inventory?: string;
  mode: 'enforce' | 'detect';
  resync: number;
  fallbackResync: number;
  watch: 'auto' | 'poll' | 'off';
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
  'Runs the reconciler: watches the desired-state directory and, over SSH, what it manages on every host; ' +
    'probes a host when either changes and on each resync, converges drift (or only reports it in detect mode), ' +
    'and serves /metrics, /healthz, /readyz and /status.',
)
  .addOption(
    new Option('--mode <MODE>', 'enforce converges; detect only reports drift')
      .choices(['enforce', 'detect'])
      .default('enforce'),
  )
  .addOption(
    new Option(
      '--watch <HOW>',
      'watch each host for changes to what hostop manages: auto = inotify where inotifywait is installed, else ' +
        'a light poll driven by the daemon; poll = always poll; off = only the resync finds drift',
    )
      .choices(['auto', 'poll', 'off'])
      .default('auto'),
  )
  .addOption(
    durationOption(
      '--resync <D>',
      'the safety net: probe every host whose watch works this often, ±10% jitter (with --watch off, every host)',
      '10m',
    ),
  )
  .addOption(
    durationOption(
      '--fallback-resync <D>',
      'probe a host with no working watch this often (never less often than --resync)',
      '60s',
    ),
  )
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
        fallbackResyncMs: opts.watch === 'off' ? opts.resync : Math.min(opts.fallbackResync, opts.resync),
        watch: opts.watch,
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
