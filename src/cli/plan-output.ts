import type { FileChange, PackageChange } from '../core/diff.js';
import type { HostOutcome } from '../engine/outcome.js';
import { printable } from './printable.js';

/** Terraform-like text for people: per host, per resource, unified diffs; ANSI colours only when asked. */
export function formatOutcomes(
  outcomes: HostOutcome[],
  opts: { color: boolean; verb: 'plan' | 'apply' },
): string {
  const c = palette(opts.color);
  const out: string[] = [];
  for (const o of outcomes) {
    if (o.error && !o.plan) {
      out.push(
        `${c.bold(`host ${o.host}`)}: ${c.red(o.status)}: ${o.error.code}: ${printable(o.error.message)}`,
        '',
      );
      continue;
    }
    const plan = o.plan;
    const changed =
      plan &&
      (plan.packages.length > 0 ||
        plan.files.some((f) => f.action !== 'unchanged') ||
        plan.services.length > 0);
    if (!changed && o.checks.every((k) => k.ok) && o.status === 'in-sync') continue;
    out.push(`${c.bold(`host ${o.host}`)}: ${statusWord(o.status, c)}`);
    /** A resource's line: its name and, after an apply, what became of it. */
    const heading = (key: string) => {
      const result = o.resources.find((r) => `${r.kind}/${r.name}` === key);
      const note =
        result && opts.verb === 'apply'
          ? `  ${resultWord(result.result, c)}${result.message ? `: ${printable(result.message)}` : ''}`
          : '';
      return `  ${c.bold(printable(key))}${note}`;
    };
    // Packages first: they converge first on the host.
    for (const p of plan?.packages ?? []) {
      const key = `${p.resource.kind}/${p.resource.name}`;
      out.push(heading(key), `    ${packageLine(p, c)}`);
    }
    const resources = new Map<string, FileChange[]>();
    for (const f of plan?.files ?? []) {
      if (f.action === 'unchanged') continue;
      const key = `${f.resource.kind}/${f.resource.name}`;
      resources.set(key, [...(resources.get(key) ?? []), f]);
    }
    for (const [key, files] of resources) {
      out.push(heading(key));
      for (const f of files) {
        out.push(`    ${fileLine(f, c)}`);
        if (f.diff)
          out.push(
            ...f.diff
              .split('\n')
              .filter((l) => l !== '')
              .map((l) => `        ${colorDiffLine(printable(l), c)}`),
          );
      }
    }
    for (const s of plan?.services ?? []) {
      out.push(
        `  ${c.yellow('~')} unit ${s.unit}: ${s.actions.join(', ')} ${c.dim(`(${s.reasons.join('; ')})`)}`,
      );
    }
    for (const k of o.checks)
      out.push(`  ${k.ok ? c.green('✓') : c.red('✗')} check ${k.name}: ${printable(k.message)}`);
    const shown = new Set([
      ...resources.keys(),
      ...(plan?.packages ?? []).map((p) => `${p.resource.kind}/${p.resource.name}`),
    ]);
    for (const r of o.resources.filter((r) => !shown.has(`${r.kind}/${r.name}`) && r.message)) {
      const why = r.result === 'held' ? ` (${r.reason})` : '';
      out.push(
        `  ${printable(`${r.kind}/${r.name}`)}: ${resultWord(r.result, c)}${why}: ${printable(r.message ?? '')}`,
      );
    }
    if (o.error) out.push(`  ${c.red('error')}: ${o.error.code}: ${printable(o.error.message)}`);
    out.push('');
  }
  out.push(summaryLine(outcomes, opts.verb));
  return `${out.join('\n')}\n`;
}

export function summaryLine(outcomes: HostOutcome[], verb: 'plan' | 'apply'): string {
  const count = (pred: (o: HostOutcome) => boolean) => outcomes.filter(pred).length;
  const unreachable = count((o) => o.status === 'unreachable');
  const failed = count((o) => ['failed', 'degraded', 'rolled-back'].includes(o.status));
  const files = outcomes.flatMap((o) => o.plan?.files ?? []);
  const n = (a: string) => files.filter((f) => f.action === a).length;
  const packages = outcomes.reduce((sum, o) => sum + (o.plan?.packages.length ?? 0), 0);
  const detail =
    `files: ${n('create')} to create, ${n('update')} to update, ${n('delete')} to delete` +
    (packages ? `; packages: ${packages} to change` : '');
  if (verb === 'plan') {
    const changed = count((o) => o.status === 'drifted');
    return `Plan: ${changed} host(s) to change, ${count((o) => o.status === 'in-sync')} unchanged, ${unreachable} unreachable, ${count((o) => o.status === 'failed')} failed (${detail}).`;
  }
  return `Apply: ${count((o) => o.status === 'converged')} host(s) converged, ${count((o) => o.status === 'in-sync')} already in sync, ${failed} failed or rolled back, ${unreachable} unreachable.`;
}

/** `+ install`, `~ upgrade A → B`, `! downgrade A → B` (loud: older code with newer data), `- remove`. */
function packageLine(p: PackageChange, c: Palette): string {
  const name = printable(p.name);
  const from = `${c.dim(`(from ${printable(p.source)})`)}`;
  const to = p.to ? printable(p.to) : 'the newest its source has';
  if (p.action === 'install') return `${c.green('+ install')} ${name} ${to} ${from}`;
  if (p.action === 'remove')
    return `${c.red('- remove')} ${name} ${printable(p.from ?? '')} ${c.dim('(its config files stay)')}`;
  const arrow = `${printable(p.from ?? '')} → ${to}`;
  if (p.action === 'upgrade') return `${c.yellow('~ upgrade')} ${name} ${arrow} ${from}`;
  return `${c.red(c.bold('! DOWNGRADE'))} ${name} ${arrow} ${from}`;
}

function fileLine(change: FileChange, c: Palette): string {
  // A pruned path comes from the host's inventory.
  const f = { ...change, path: printable(change.path) };
  const meta = f.intent ? ` ${c.dim(`(${f.intent.mode} ${f.intent.owner}:${f.intent.group})`)}` : '';
  if (f.action === 'create') return `${c.green('+ create')} ${f.path}${meta}`;
  if (f.action === 'delete' && f.restoresOriginal)
    return `${c.red('- restore')} ${f.path} ${c.dim('to the version found before hostop (its resource left the desired state)')}`;
  if (f.action === 'delete')
    return `${c.red('- delete')} ${f.path} ${c.dim('(its resource left the desired state)')}`;
  return `${c.yellow('~ update')} ${f.path} [${f.changed.join(', ')}]${meta}`;
}

function statusWord(s: HostOutcome['status'], c: Palette): string {
  if (s === 'in-sync' || s === 'converged') return c.green(s);
  if (s === 'drifted') return c.yellow('changes');
  return c.red(s);
}

function resultWord(r: string, c: Palette): string {
  return r === 'applied' || r === 'pruned' || r === 'unchanged'
    ? c.green(r)
    : r === 'drifted'
      ? c.yellow(r)
      : c.red(r);
}

function colorDiffLine(l: string, c: Palette): string {
  if (l.startsWith('+++') || l.startsWith('---')) return c.bold(l);
  if (l.startsWith('+')) return c.green(l);
  if (l.startsWith('-')) return c.red(l);
  if (l.startsWith('@@')) return c.cyan(l);
  return l;
}

type Palette = Record<'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan', (s: string) => string>;

function palette(on: boolean): Palette {
  const wrap = (code: number, reset: number) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[${reset}m` : s);
  return {
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
  };
}
