import type { Command } from 'commander';
import type { HostOutcome } from '../engine/outcome.js';
import { durationOption, exits, positiveIntOption } from './args.js';
import { type SelectionOptions, loadIntents, selectionCommand } from './desired-intents.js';
import { formatOutcomes } from './plan-output.js';

interface FleetOptions extends SelectionOptions {
  prune: boolean;
  maxParallel: number;
  connectTimeout: number;
  color: boolean;
  maxFailures?: number;
  dryRun?: boolean;
}

function fleetCommand(name: string, description: string): Command {
  return selectionCommand(name, description)
    .option('--no-prune', 'never delete files whose resource left the desired state')
    .addOption(positiveIntOption('--max-parallel <N>', 'hosts in flight at once', 32))
    .addOption(durationOption('--connect-timeout <D>', 'SSH connect deadline per host', '10s'))
    .option('--no-color', 'plain output even on a terminal');
}

/** `hostop plan`: what would change on every selected host, Terraform-style. */
export const planCommand = fleetCommand(
  'plan',
  'Probes every selected host over SSH and prints what would change (files with unified diffs, service actions, checks). Touches nothing.',
)
  .addHelpText(
    'after',
    `
Exit codes: 0 no changes, 2 changes, 1 error (invalid desired state, unreachable
or failed hosts).`,
  )
  .action(exits((dir: string, opts: FleetOptions) => runFleet('plan', dir, opts)));

/** `hostop apply`: converge what plan shows, safely. */
export const applyCommand = fleetCommand(
  'apply',
  'Converges every selected host: writes files atomically after their validator passes, reloads or restarts each ' +
    'affected service once, waits for health, rolls back on failure, and verifies by probing again.',
)
  .addOption(
    positiveIntOption(
      '--max-failures <N>',
      'stop starting new hosts after N failed hosts (default: never stop)',
    ),
  )
  .option('--dry-run', 'only plan (same as hostop plan)')
  .addHelpText(
    'after',
    `
Exit codes: 0 every host converged or in sync, 1 any failure, rollback or
unreachable host (2 with --dry-run and changes).`,
  )
  .action(exits((dir: string, opts: FleetOptions) => runFleet(opts.dryRun ? 'plan' : 'apply', dir, opts)));

async function runFleet(verb: 'plan' | 'apply', dir: string, opts: FleetOptions): Promise<number> {
  const desired = await loadIntents(dir, opts, 'nothing was planned or touched');
  if (!desired) return 1;
  const { snapshot, intents } = desired;
  // The SSH side loads only when there is something to connect to (validate, --help, a broken state skip it).
  const [{ ConnectionPool }, { fleetPass }] = await Promise.all([
    import('../ssh/connection-pool.js'),
    import('../engine/fleet-pass.js'),
  ]);
  const pool = new ConnectionPool({ connectTimeoutMs: opts.connectTimeout });
  const tty = process.stderr.isTTY && opts.output === 'text';
  try {
    const outcomes = await fleetPass(pool, intents, {
      apply: verb === 'apply',
      prune: opts.prune,
      wantDiffs: true,
      maxParallel: opts.maxParallel,
      maxFailures: opts.maxFailures,
      onHostDone: tty
        ? (_o, done, total) => process.stderr.write(`\r${verb}: ${done}/${total} hosts done`)
        : undefined,
    });
    if (tty) process.stderr.write('\r\x1b[K');
    if (opts.output === 'json')
      process.stdout.write(
        `${JSON.stringify({ revision: snapshot.revision, hosts: outcomes.map(jsonOutcome) }, null, 2)}\n`,
      );
    else
      process.stdout.write(
        formatOutcomes(outcomes, { color: opts.color && process.stdout.isTTY === true, verb }),
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
