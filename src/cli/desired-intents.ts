import type { Command } from 'commander';
import type { HostIntent, Snapshot, SourceFile } from '../core/model.js';
import { matchesSelector } from '../core/selector.js';
import { gitRevision, loadDesiredState } from '../source/load.js';
import { UsageError, dirCommand, outputOption } from './args.js';
import { formatProblem } from './problems-output.js';

/** `hostop NAME [DIR] [options]` for a command that works on rendered hosts (render, plan, apply). */
export function selectionCommand(name: string, description: string): Command {
  return dirCommand(name, description)
    .option('--hosts <a,b>', 'only these hosts')
    .option('-l, --selector <k=v>', 'only hosts whose labels match (comma-separated k=v pairs)')
    .addOption(outputOption());
}

export interface SelectionOptions {
  inventory?: string;
  hosts?: string;
  selector?: string;
  output: 'text' | 'json';
}

export interface DesiredIntents {
  snapshot: Snapshot;
  /** One per selected host, sorted by host name, files by path (as `renderFleet` returns them). */
  intents: HostIntent[];
  /** The files it was loaded from (desired state, then inventory). */
  sources: SourceFile[];
}

/**
 * Loads DIR (with `--inventory`), prints every problem to stderr as `hostop validate` does, renders the intent
 * of every host and narrows it to `--hosts` and `--selector`.
 *
 * Undefined when the desired state is invalid: its problems and `DIR: desired state is invalid; <untouched>`
 * have been printed. A `--hosts` name that is no host, or a malformed `--selector`, is a UsageError naming it.
 */
export async function loadIntents(
  dir: string,
  opts: SelectionOptions,
  untouched: string,
): Promise<DesiredIntents | undefined> {
  const loaded = loadDesiredState(dir, { inventory: opts.inventory, revision: await gitRevision(dir) });
  for (const p of loaded.problems) process.stderr.write(`${formatProblem(p)}\n`);
  if (!loaded.snapshot || !loaded.intents) {
    process.stderr.write(`${dir}: desired state is invalid; ${untouched}.\n`);
    return undefined;
  }
  const intents = selectIntents(loaded.intents, opts.hosts, opts.selector);
  return { snapshot: loaded.snapshot, intents, sources: loaded.sources };
}

/** The intents `--hosts` and `--selector` select; a UsageError names an unknown host or a malformed pair. */
export function selectIntents(intents: HostIntent[], hosts?: string, selector?: string): HostIntent[] {
  // A host with nothing desired stays selected: plan and apply prune what hostop managed there before.
  let out = intents;
  if (hosts) {
    const names = hosts
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const unknown = names.filter((n) => !intents.some((i) => i.host.name === n));
    if (unknown.length) throw new UsageError(`--hosts: unknown host(s) ${unknown.join(', ')}`);
    out = out.filter((i) => names.includes(i.host.name));
  }
  if (selector) {
    const matchLabels: Record<string, string> = {};
    for (const pair of selector.split(',')) {
      const m = /^([^=\s]+)=([^=\s]*)$/.exec(pair.trim());
      if (!m) throw new UsageError(`--selector: ${JSON.stringify(pair)} is not key=value`);
      matchLabels[m[1]!] = m[2]!;
    }
    out = out.filter((i) => matchesSelector(i.host.labels, { matchLabels }));
  }
  return out;
}
