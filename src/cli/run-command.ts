import { type CommandSpec, UsageError, parseDuration, parsePositiveInt } from './args.js';

/** `hostop run`: the daemon (wired together in daemon/run-daemon.ts). */
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
    const options = {
      dir,
      mode,
      inventory: values.inventory as string | undefined,
      resyncMs: parseDuration(String(values.resync ?? '60s'), '--resync'),
      concurrency: values.concurrency ? parsePositiveInt(values.concurrency, '--concurrency') : 32,
      graceMs: parseDuration(String(values['shutdown-grace'] ?? '60s'), '--shutdown-grace'),
      probeTimeoutMs: parseDuration(String(values['probe-timeout'] ?? '30s'), '--probe-timeout'),
      gitPullMs: values['git-pull'] ? parseDuration(String(values['git-pull']), '--git-pull') : undefined,
      tokenFile: values['http-token-file'] as string | undefined,
      stateDir: (values['state-dir'] as string | undefined) ?? '/var/lib/hostop',
      listen: values.listen as string | undefined,
      prune: !values['no-prune'],
      logLevel: values['log-level'] as string | undefined,
    } as const;
    // The daemon's adapters (watcher, HTTP, metrics, logger) load only when the daemon runs.
    const { runDaemon } = await import('../daemon/run-daemon.js');
    return runDaemon(options);
  },
};
