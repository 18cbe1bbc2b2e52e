import { hostname } from 'node:os';
import { Option } from 'commander';
import type { EtcdOptions } from '../daemon/run-daemon.js';
import { UsageError, dirCommand, durationOption, exits, positiveIntOption } from './args.js';

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
  etcdEndpoints?: string[];
  etcdPrefix: string;
  member?: string;
  etcdLeaseTtl: number;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPasswordFile?: string;
}

/** A member name: it becomes part of etcd keys and of the hosts' fence logs, so it stays plain. */
const MEMBER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function parseEndpoints(text: string): string[] {
  const urls = text
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  for (const u of urls)
    if (!/^https?:\/\/[^/\s]+\/?$/.test(u))
      throw new UsageError(
        `--etcd-endpoints: ${JSON.stringify(u)} is not an etcd client URL (http(s)://HOST:PORT)`,
      );
  if (urls.length === 0) throw new UsageError('--etcd-endpoints: no URL given');
  return urls;
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
  .addOption(
    new Option(
      '--etcd-endpoints <URLS>',
      'share the fleet with other daemons through etcd (comma-separated client URLs): each host is reconciled ' +
        'by exactly one live daemon, and taken over when that one dies',
    ).argParser(parseEndpoints),
  )
  .option('--etcd-prefix <P>', 'the key prefix in etcd shared by these daemons', '/hostop/')
  .option(
    '--member <NAME>',
    "this daemon's name among them; two live daemons with one name are refused (default: the hostname)",
  )
  .addOption(
    durationOption(
      '--etcd-lease-ttl <D>',
      'membership lease: a daemon silent this long loses its hosts',
      '10s',
    ),
  )
  .option('--etcd-ca <F>', "CA certificate of etcd's TLS (https:// endpoints)")
  .option('--etcd-cert <F>', 'client certificate for etcd (with --etcd-key)')
  .option('--etcd-key <F>', 'client key for etcd')
  .option('--etcd-user <NAME>', 'etcd user (with --etcd-password-file)')
  .option('--etcd-password-file <F>', "file holding the etcd user's password")
  .addHelpText(
    'after',
    '\nSignals: SIGTERM/SIGINT stop gracefully (with etcd: its hosts are handed over at once), SIGHUP reloads the ' +
      'desired state.\n\nSeveral daemons: start each with the same --etcd-endpoints and its own --member; ' +
      'see README.md, "Several daemons on etcd".',
  )
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
        etcd: etcdOptions(opts),
      });
    }),
  );

function etcdOptions(o: RunOptions): EtcdOptions | undefined {
  const etcdOnly = ['etcdCa', 'etcdCert', 'etcdKey', 'etcdUser', 'etcdPasswordFile', 'member'] as const;
  if (!o.etcdEndpoints) {
    const stray = etcdOnly.find((k) => o[k] !== undefined);
    if (stray) throw new UsageError(`--${kebab(stray)} needs --etcd-endpoints`);
    return undefined;
  }
  const member = o.member ?? hostname().split('.')[0]!;
  if (!MEMBER_NAME.test(member))
    throw new UsageError(
      `--member: ${JSON.stringify(member)} is not a member name (letters, digits, . _ -; up to 63)`,
    );
  if (o.etcdLeaseTtl < 2000) throw new UsageError('--etcd-lease-ttl: at least 2s');
  if (Boolean(o.etcdCert) !== Boolean(o.etcdKey))
    throw new UsageError('--etcd-cert and --etcd-key go together');
  if (Boolean(o.etcdUser) !== Boolean(o.etcdPasswordFile))
    throw new UsageError('--etcd-user and --etcd-password-file go together');
  if (o.etcdCert && !o.etcdCa) throw new UsageError('--etcd-cert needs --etcd-ca');
  return {
    endpoints: o.etcdEndpoints,
    prefix: o.etcdPrefix.endsWith('/') ? o.etcdPrefix : `${o.etcdPrefix}/`,
    member,
    leaseTtlS: Math.round(o.etcdLeaseTtl / 1000),
    caFile: o.etcdCa,
    certFile: o.etcdCert,
    keyFile: o.etcdKey,
    user: o.etcdUser,
    passwordFile: o.etcdPasswordFile,
  };
}

function kebab(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
