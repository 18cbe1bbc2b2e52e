import type { HostOutcome } from '../engine/outcome.js';
import { type CommandSpec, outputFormat, parseDuration, parsePositiveInt } from './args.js';
import { SELECTION_HELP, SELECTION_OPTIONS, loadIntents } from './desired-intents.js';
import { formatOutcomes } from './plan-output.js';

const COMMON_OPTIONS = {
  ...SELECTION_OPTIONS,
  'no-prune': { type: 'boolean' },
  'max-parallel': { type: 'string' },
  'connect-timeout': { type: 'string' },
  'no-color': { type: 'boolean' },
} as const;

const COMMON_HELP = [
  ...SELECTION_HELP,
  '--no-prune            never delete files whose resource left the desired state',
  '--max-parallel N      hosts in flight at once (default 32)',
  '--connect-timeout D   SSH connect deadline per host (default 10s)',
  '--no-color            plain output even on a terminal',
];

/** `hostop plan`: what would change on every selected host, Terraform-style. */
export const planCommand: CommandSpec = {
  name: 'plan',
  summary:
    'Probes every selected host over SSH and prints what would change (files with unified diffs, service actions, checks). Touches nothing.',
  usage: 'hostop plan [DIR] [options]',
  options: COMMON_OPTIONS,
  help: [
    ...COMMON_HELP,
    'Exit codes: 0 no changes, 2 changes, 1 error (invalid desired state, unreachable or failed hosts).',
  ],
  run: (values, positionals) => runFleet('plan', values, positionals),
};

/** `hostop apply`: converge what plan shows, safely. */
export const applyCommand: CommandSpec = {
  name: 'apply',
  summary:
    'Converges every selected host: writes files atomically after their validator passes, reloads or restarts each ' +
    'affected service once, waits for health, rolls back on failure, and verifies by probing again.',
  usage: 'hostop apply [DIR] [options]',
  options: { ...COMMON_OPTIONS, 'max-failures': { type: 'string' }, 'dry-run': { type: 'boolean' } },
  help: [
    ...COMMON_HELP,
    '--max-failures N      stop starting new hosts after N failed hosts (default: never stop)',
    '--dry-run             only plan (same as hostop plan)',
    'Exit codes: 0 every host converged or in sync, 1 any failure, rollback or unreachable host (2 with --dry-run and changes).',
  ],
  run: (values, positionals) => runFleet(values['dry-run'] ? 'plan' : 'apply', values, positionals),
};

async function runFleet(
  verb: 'plan' | 'apply',
  values: Record<string, unknown>,
  positionals: string[],
): Promise<number> {
  const format = outputFormat(values.output);
  const maxParallel = values['max-parallel']
    ? parsePositiveInt(values['max-parallel'], '--max-parallel')
    : 32;
  const maxFailures =
    values['max-failures'] !== undefined
      ? parsePositiveInt(values['max-failures'], '--max-failures')
      : undefined;
  const connectTimeoutMs = values['connect-timeout']
    ? parseDuration(String(values['connect-timeout']), '--connect-timeout')
    : 10_000;
  const desired = await loadIntents(values, positionals, 'nothing was planned or touched');
  if (!desired) return 1;
  const { snapshot, intents } = desired;
  // The SSH side loads only when there is something to connect to (validate, --help, a broken state skip it).
  const [{ ConnectionPool }, { fleetPass }] = await Promise.all([
    import('../ssh/connection-pool.js'),
    import('../engine/fleet-pass.js'),
  ]);
  const pool = new ConnectionPool({ connectTimeoutMs });
  const tty = process.stderr.isTTY && format === 'text';
  try {
    const outcomes = await fleetPass(pool, intents, {
      apply: verb === 'apply',
      prune: !values['no-prune'],
      wantDiffs: true,
      maxParallel,
      maxFailures,
      onHostDone: tty
        ? (_o, done, total) => process.stderr.write(`\r${verb}: ${done}/${total} hosts done`)
        : undefined,
    });
    if (tty) process.stderr.write('\r\x1b[K');
    if (format === 'json')
      process.stdout.write(
        `${JSON.stringify({ revision: snapshot.revision, hosts: outcomes.map(jsonOutcome) }, null, 2)}\n`,
      );
    else
      process.stdout.write(
        formatOutcomes(outcomes, { color: !values['no-color'] && process.stdout.isTTY === true, verb }),
      );
    return exitCode(verb, outcomes);
  } finally {
    pool.closeAll();
  }
}

function exitCode(verb: 'plan' | 'apply', outcomes: HostOutcome[]): number {
  if (outcomes.some((o) => ['unreachable', 'failed', 'degraded', 'rolled-back'].includes(o.status))) return 1;
  if (verb === 'plan') return outcomes.some((o) => o.status === 'drifted') ? 2 : 0;
  return 0;
}

/** JSON for machines: the plan without file contents (diffs are masked already). */
function jsonOutcome(o: HostOutcome) {
  return {
    ...o,
    plan: o.plan && {
      ...o.plan,
      files: o.plan.files.map(({ intent, ...f }) => ({
        ...f,
        mode: intent?.mode,
        owner: intent?.owner,
        group: intent?.group,
      })),
      services: o.plan.services.map(({ intent, ...s }) => s),
    },
  };
}
