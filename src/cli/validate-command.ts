import type { HostIntent, Snapshot } from '../core/model.js';
import { gitRevision, loadDesiredState } from '../source/load.js';
import { dirCommand, exits, outputOption } from './args.js';
import { formatProblem } from './problems-output.js';

export const validateCommand = dirCommand(
  'validate',
  'Loads and validates a desired-state directory without touching any host: YAML syntax, CRD schemas, duplicates, ' +
    'host references, conflicting file claims. Prints a summary, or every problem with file, line and field.',
)
  .addOption(outputOption())
  .addHelpText('after', '\nExit codes: 0 valid, 1 invalid.')
  .action(exits(validate));

async function validate(dir: string, opts: { inventory?: string; output: 'text' | 'json' }): Promise<number> {
  const result = loadDesiredState(dir, { inventory: opts.inventory, revision: await gitRevision(dir) });
  const errors = result.problems.filter((p) => p.severity === 'error');
  const snapshot = result.snapshot;
  if (opts.output === 'json') {
    const summary = snapshot && result.intents && summarize(snapshot, result.intents);
    process.stdout.write(
      `${JSON.stringify({ valid: errors.length === 0, problems: result.problems, summary }, null, 2)}\n`,
    );
    return errors.length === 0 ? 0 : 1;
  }
  for (const p of result.problems) process.stderr.write(`${formatProblem(p)}\n`);
  if (!snapshot) {
    process.stderr.write(`\n${dir}: invalid, ${errors.length} error(s)\n`);
    return 1;
  }
  const s = summarize(snapshot, result.intents ?? []);
  const out = [
    `${dir}: valid${snapshot.revision ? ` at revision ${snapshot.revision}` : ''}`,
    '',
    'Resources by kind:',
  ];
  for (const [kind, n] of Object.entries(s.kinds)) out.push(`  ${kind.padEnd(20)} ${n}`);
  out.push('', `Hosts (${s.hosts.length}):`);
  for (const h of s.hosts)
    out.push(
      `  ${h.name.padEnd(20)} ${String(h.files).padStart(3)} files  ${h.services} services  ${h.checks} checks` +
        (h.packages ? `  ${h.packages} packages` : ''),
    );
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

function summarize(snapshot: Snapshot, intents: HostIntent[]) {
  const kinds: Record<string, number> = {};
  for (const r of snapshot.resources) kinds[r.kind] = (kinds[r.kind] ?? 0) + 1;
  const hosts = intents.map((i) => ({
    name: i.host.name,
    files: i.files.length,
    services: i.services.length,
    checks: i.checks.length,
    packages: i.packages?.length ?? 0,
  }));
  return { revision: snapshot.revision, kinds: Object.fromEntries(Object.entries(kinds).sort()), hosts };
}
