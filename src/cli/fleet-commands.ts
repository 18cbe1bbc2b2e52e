import { lstatSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { HostIntent } from '../core/model.js';
import type { HostOutcome } from '../engine/outcome.js';
import type { HostMemory, PassOptions } from '../engine/reconcile-host.js';
import {
  SAVED_PLAN_FORMAT,
  type SavedHost,
  type SavedPlan,
  changedSources,
  parseSavedPlan,
  savedHost,
  sourceDigests,
  staleness,
} from '../engine/saved-plan.js';
import type { ConnectionPool } from '../ssh/connection-pool.js';
import { UsageError, durationOption, exits, positiveIntOption } from './args.js';
import { type SelectionOptions, loadIntents, selectIntents, selectionCommand } from './desired-intents.js';
import { formatOutcomes } from './plan-output.js';
import { printable } from './printable.js';

interface FleetOptions extends SelectionOptions {
  prune: boolean;
  maxParallel: number;
  connectTimeout: number;
  color: boolean;
  maxFailures?: number;
  dryRun?: boolean;
  out?: string;
  yes?: boolean;
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
  .option('--out <FILE>', 'also save the plan, for `hostop apply FILE` to apply exactly it')
  .addHelpText(
    'after',
    `
A saved plan holds digests of the desired-state files, of each host's rendered
intent and of what its probe saw, and the changes: no file contents. \`hostop
apply FILE\` refuses it, writing nothing, when any of that changed since.

Exit codes: 0 no changes, 2 changes, 1 error (invalid desired state, unreachable
or failed hosts; a plan with errors is not saved).`,
  )
  .action(exits((dir: string, opts: FleetOptions) => runFleet('plan', dir, opts)));

/** `hostop apply`: converge what plan shows, safely. */
export const applyCommand = fleetCommand(
  'apply',
  'Converges every selected host: writes files atomically after their validator passes, reloads or restarts each ' +
    'affected service once, waits for health, rolls back on failure, and verifies by probing again.',
)
  .usage('[DIR | PLANFILE] [options]')
  .addOption(
    positiveIntOption(
      '--max-failures <N>',
      'stop starting new hosts after N failed hosts (default: never stop)',
    ),
  )
  .option('--dry-run', 'only plan (same as hostop plan)')
  .option('-y, --yes', 'do not ask on a terminal: apply without showing the plan first')
  .addHelpText(
    'after',
    `
On a terminal, apply first shows the plan and asks; only "yes" applies it, and
exactly it: a host that changed in between is refused, nothing written. Without
a terminal (CI, scripts) or with --yes it applies at once.

hostop apply PLANFILE applies a plan saved by \`hostop plan --out PLANFILE\`,
without asking, and refuses it (exit 1, nothing written on any host) naming the
file or the host and path that changed since it was made.

Exit codes: 0 every host converged or in sync, 1 any failure, rollback,
unreachable host, refused plan or "no" (2 with --dry-run and changes).`,
  )
  .action(exits((dir: string, opts: FleetOptions) => runFleet(opts.dryRun ? 'plan' : 'apply', dir, opts)));

async function runFleet(verb: 'plan' | 'apply', dir: string, opts: FleetOptions): Promise<number> {
  if (verb === 'apply' && isFile(dir)) return applySavedFile(dir, opts);
  const desired = await loadIntents(dir, opts, 'nothing was planned or touched');
  if (!desired) return 1;
  const { snapshot, intents } = desired;
  const ask = verb === 'apply' && !opts.yes && process.stdin.isTTY === true;
  return withPool(opts, async (fleet) => {
    if (verb === 'apply' && !ask) return fleet.report(await fleet.pass(intents, 'apply'), 'apply');
    const planned = new Map<string, SavedHost>();
    const outcomes = await fleet.pass(intents, 'plan', (i, o, p) => {
      planned.set(i.host.name, savedHost(i, o, p));
      return undefined;
    });
    const code = fleet.report(outcomes, 'plan', snapshot.revision);
    if (verb === 'plan') {
      if (opts.out === undefined) return code;
      if (code === 1) {
        process.stderr.write(`hostop plan: the plan has errors; ${opts.out} was not saved.\n`);
        return 1;
      }
      const saved: SavedPlan = {
        format: SAVED_PLAN_FORMAT,
        createdAt: new Date().toISOString(),
        dir: resolve(dir),
        inventory: opts.inventory && resolve(opts.inventory),
        revision: snapshot.revision,
        selection: { hosts: opts.hosts, selector: opts.selector },
        prune: opts.prune,
        sources: sourceDigests(desired.sources.map((f) => ({ ...f, file: resolve(f.file) }))),
        hosts: intents.map((i) => planned.get(i.host.name)!),
      };
      writeAtomically(opts.out, `${JSON.stringify(saved, null, 2)}\n`);
      process.stderr.write(
        `Saved the plan to ${opts.out}. Apply exactly it with: hostop apply ${opts.out}\n`,
      );
      return code;
    }
    if (code === 0) return 0;
    if (code === 1) {
      process.stderr.write(
        'hostop apply: the plan has errors; nothing was applied (--yes applies without asking, to the hosts that answer).\n',
      );
      return 1;
    }
    if (
      !(await confirm(
        `Apply these changes to ${outcomes.filter((o) => o.status === 'drifted').length} host(s)?`,
      ))
    ) {
      process.stderr.write('Apply cancelled; nothing was applied.\n');
      return 1;
    }
    return fleet.applySaved(intents, planned, 'the plan shown');
  });
}

/** `hostop apply PLANFILE`: the saved plan's desired state, selection and hosts, or a refusal naming what moved. */
async function applySavedFile(file: string, opts: FleetOptions): Promise<number> {
  if (opts.hosts || opts.selector || opts.inventory)
    throw new UsageError('--hosts, --selector and --inventory come from the saved plan: drop them');
  const plan = parseSavedPlan(readFileSync(file, 'utf8'), file);
  const desired = await loadIntents(
    plan.dir,
    { ...opts, inventory: plan.inventory },
    `${file} was not applied`,
  );
  if (!desired) return 1;
  const moved = changedSources(plan.sources, sourceDigests(desired.sources)).map(
    (f) => `${shown(f)}: the desired state changed since the plan was made`,
  );
  const intents = moved.length
    ? []
    : selectIntents(desired.intents, plan.selection.hosts, plan.selection.selector);
  const names = new Set(intents.map((i) => i.host.name));
  for (const h of plan.hosts)
    if (!moved.length && !names.has(h.host)) moved.push(`host ${h.host}: no longer selected`);
  if (moved.length) return refuse(file, moved);
  return withPool({ ...opts, prune: plan.prune }, (fleet) =>
    fleet.applySaved(intents, new Map(plan.hosts.map((h) => [h.host, h])), file),
  );
}

interface Fleet {
  /** One pass over `intents`; `admit` sees each host's first probe and may refuse it. */
  pass(intents: HostIntent[], verb: 'plan' | 'apply', admit?: Admit): Promise<HostOutcome[]>;
  /** Prints the outcomes as text or JSON; the exit code they mean. */
  report(outcomes: HostOutcome[], verb: 'plan' | 'apply', revision?: string): number;
  /**
   * Applies exactly the saved plans of these hosts: a checking pass first, so that one host that moved refuses
   * the whole plan before anything is written anywhere; then the apply pass, each host checked again.
   */
  applySaved(intents: HostIntent[], saved: Map<string, SavedHost>, what: string): Promise<number>;
}
type Admit = NonNullable<PassOptions['admit']>;

async function withPool(opts: FleetOptions, work: (fleet: Fleet) => Promise<number>): Promise<number> {
  // The SSH side loads only when there is something to connect to (validate, --help, a broken state skip it).
  const [{ ConnectionPool }, { fleetPass }] = await Promise.all([
    import('../ssh/connection-pool.js'),
    import('../engine/fleet-pass.js'),
  ]);
  const pool: ConnectionPool = new ConnectionPool({ connectTimeoutMs: opts.connectTimeout });
  const memory = new Map<string, HostMemory>();
  const tty = process.stderr.isTTY && opts.output === 'text';
  const fleet: Fleet = {
    async pass(intents, verb, admit) {
      const outcomes = await fleetPass(pool, intents, {
        apply: verb === 'apply',
        prune: opts.prune,
        wantDiffs: verb === 'plan',
        maxParallel: opts.maxParallel,
        maxFailures: opts.maxFailures,
        memory,
        admit,
        onHostDone: tty
          ? (_o, done, total) => process.stderr.write(`\r${verb}: ${done}/${total} hosts done`)
          : undefined,
      });
      if (tty) process.stderr.write('\r\x1b[K');
      return outcomes;
    },
    report(outcomes, verb, revision) {
      if (opts.output === 'json')
        process.stdout.write(`${JSON.stringify({ revision, hosts: outcomes.map(jsonOutcome) }, null, 2)}\n`);
      else
        process.stdout.write(
          formatOutcomes(outcomes, {
            // https://no-color.org: a set NO_COLOR means no colour, whatever its value.
            color: opts.color && process.stdout.isTTY === true && !process.env.NO_COLOR,
            verb,
          }),
        );
      return exitCode(verb, outcomes);
    },
    async applySaved(intents, saved, what) {
      const admit: Admit = (intent, observed, plan) => {
        const s = saved.get(intent.host.name);
        return s ? staleness(s, savedHost(intent, observed, plan)) : 'not in the plan';
      };
      const checked = await fleet.pass(intents, 'plan', admit);
      const refused = checked.filter((o) => o.status !== 'in-sync' && o.status !== 'drifted');
      if (refused.length)
        return refuse(
          what,
          refused.map((o) => `host ${o.host}: ${o.error ? `${o.error.message}` : o.status}`),
        );
      return fleet.report(await fleet.pass(intents, 'apply', admit), 'apply');
    },
  };
  try {
    return await work(fleet);
  } finally {
    pool.closeAll();
  }
}

function refuse(what: string, why: string[]): number {
  process.stderr.write(
    `hostop apply: ${what} no longer holds; nothing was applied:\n${why.map((w) => `  ${printable(w)}\n`).join('')}` +
      'Make a new plan and review it.\n',
  );
  return 1;
}

/** Asks on the terminal; true only for "yes" (Terraform's rule). End of input is "no". */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: false });
  try {
    const answer = await new Promise<string | undefined>((done) => {
      rl.once('close', () => done(undefined));
      rl.question(`${question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: `, done);
    });
    return answer?.trim() === 'yes';
  } finally {
    rl.close();
  }
}

function isFile(path: string): boolean {
  try {
    return lstatSync(path).isFile();
  } catch {
    return false;
  }
}

/** A path as the user would type it: relative to the working directory when below it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path.replace(/ \((changed|added|removed)\)$/, ''));
  const suffix = / \((changed|added|removed)\)$/.exec(path)?.[0] ?? '';
  return `${rel.startsWith('..') ? path.replace(suffix, '') : rel}${suffix}`;
}

/** Written beside itself and renamed into place, 0600: a plan is never half-written. */
function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
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
