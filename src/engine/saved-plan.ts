import { type HostPlan, sha256 as digest } from '../core/diff.js';
import type { HostIntent, ObservedHost, SourceFile } from '../core/model.js';
import { invocationLink } from '../probe/watch-script.js';

/**
 * A reviewed plan, as `hostop plan --out FILE` saves it and `hostop apply FILE` applies it (Terraform's saved
 * plan): what was planned from (the desired-state files, each host's rendered intent and what its probe saw) and
 * what was to change. Applying it refuses, naming the file or the host and path, when any of that moved since.
 *
 * Only digests and change summaries are kept: no file contents, so no secret (a 0600 file all the same).
 */
export interface SavedPlan {
  format: typeof SAVED_PLAN_FORMAT;
  createdAt: string;
  /** The desired-state directory (absolute) and the inventory it was loaded with. */
  dir: string;
  inventory?: string;
  /** git revision of `dir` (with -dirty), for people; the `sources` digests are what is compared. */
  revision?: string;
  /** The command line's selection, applied again to the same desired state. */
  selection: { hosts?: string; selector?: string };
  prune: boolean;
  /** sha256 of every desired-state (and inventory) file, by path as read. */
  sources: Record<string, string>;
  hosts: SavedHost[];
}

export interface SavedHost {
  host: string;
  /** sha256 of the host's rendered intent (contents, modes, units, checks, versions). */
  intent: string;
  /** What the probe saw, one line per path and unit: `file:/etc/x` -> `file <sha256> 0644 root:root`. */
  observed: Record<string, string>;
  /** The intended changes, one line each: `update /etc/x [content]`, `unit otelcol-contrib: reload`. */
  changes: string[];
}

export const SAVED_PLAN_FORMAT = 'hostop.dev/plan/v1';

/** Digest of every source file; a refused file counts by its reason, so it changing is seen too. */
export function sourceDigests(files: SourceFile[]): Record<string, string> {
  return Object.fromEntries(files.map((f) => [f.file, digest(f.text ?? `refused: ${f.refused}`)]));
}

export function intentDigest(intent: HostIntent): string {
  return digest(JSON.stringify(intent));
}

/**
 * What a host's plan depends on among what its probe saw: each managed path's type, content hash, mode and
 * ownership, each unit's states, the versions read. Invocation links are left out: they change on every
 * restart, and a unit's states already say what a plan depends on.
 */
export function fingerprint(observed: ObservedHost): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [path, f] of Object.entries(observed.files)) {
    if (path.startsWith(invocationLink(''))) continue;
    out[`file:${path}`] =
      f.type === 'missing' ? 'missing' : `${f.type} ${f.sha256 ?? '-'} ${f.mode} ${f.owner}:${f.group}`;
  }
  for (const [unit, u] of Object.entries(observed.units))
    out[`unit:${unit}`] = `${u.load} ${u.active} ${u.enabled}`;
  for (const [name, v] of Object.entries(observed.packages ?? {})) out[`package:${name}`] = v ?? 'absent';
  for (const [name, v] of Object.entries(observed.programs ?? {})) out[`program:${name}`] = v ?? 'absent';
  return out;
}

/** The plan's changes, one line each, in a stable order (no contents: diffs stay out of the saved plan). */
export function changeLines(plan: HostPlan): string[] {
  const files = plan.files
    .filter((f) => f.action !== 'unchanged')
    .map((f) => `${f.action} ${f.path}${f.changed.length ? ` [${f.changed.join(', ')}]` : ''}`);
  const units = plan.services.map((s) => `unit ${s.unit}: ${s.actions.join(', ')}`);
  const held = plan.held.map((h) => `hold ${h.resource.kind}/${h.resource.name}: ${h.reason}`);
  return [...files, ...units, ...held];
}

export function savedHost(intent: HostIntent, observed: ObservedHost, plan: HostPlan): SavedHost {
  return {
    host: intent.host.name,
    intent: intentDigest(intent),
    observed: fingerprint(observed),
    changes: changeLines(plan),
  };
}

/** The desired-state files that differ from the saved plan's: "changed", "added" or "removed", sorted. */
export function changedSources(saved: Record<string, string>, now: Record<string, string>): string[] {
  const names = [...new Set([...Object.keys(saved), ...Object.keys(now)])].sort();
  return names.flatMap((name) => {
    if (saved[name] === now[name]) return [];
    if (saved[name] === undefined) return [`${name} (added)`];
    if (now[name] === undefined) return [`${name} (removed)`];
    return [`${name} (changed)`];
  });
}

/**
 * Why `saved` no longer holds for a host whose intent digest and probe are `now`, or undefined when it does:
 * the intent changed, a path or unit changed (each named, at most five), or the plan computed now differs.
 */
export function staleness(saved: SavedHost, now: SavedHost): string | undefined {
  if (saved.intent !== now.intent) return 'its rendered desired state changed since the plan was made';
  const keys = [...new Set([...Object.keys(saved.observed), ...Object.keys(now.observed)])].sort();
  const moved = keys.filter((k) => saved.observed[k] !== now.observed[k]);
  if (moved.length > 0) {
    const named = moved.slice(0, 5).map((k) => k.replace(/^(file|unit|package|program):/, '$1 '));
    const more = moved.length > 5 ? ` and ${moved.length - 5} more` : '';
    return `changed since the plan was made: ${named.join(', ')}${more}`;
  }
  if (saved.changes.join('\n') !== now.changes.join('\n'))
    return `the plan computed now differs from the saved one: ${now.changes.join('; ') || 'no changes'}`;
  return undefined;
}

/** Reads a saved plan's JSON, or throws an Error naming `file` and what is wrong with it. */
export function parseSavedPlan(text: string, file: string): SavedPlan {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not a saved plan (${(e as Error).message})`);
  }
  const plan = value as Partial<SavedPlan> | null;
  if (plan?.format !== SAVED_PLAN_FORMAT)
    throw new Error(
      `${file}: not a saved plan of this hostop (format ${JSON.stringify(plan?.format)}, expected ${SAVED_PLAN_FORMAT})`,
    );
  const hostsOk =
    Array.isArray(plan.hosts) &&
    plan.hosts.every(
      (h) =>
        typeof h?.host === 'string' &&
        typeof h.intent === 'string' &&
        isStringRecord(h.observed) &&
        Array.isArray(h.changes) &&
        h.changes.every((c) => typeof c === 'string'),
    );
  if (typeof plan.dir !== 'string' || !isStringRecord(plan.sources) || !hostsOk || !plan.selection)
    throw new Error(`${file}: saved plan is malformed (dir, sources, selection or hosts missing or wrong)`);
  return plan as SavedPlan;
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && Object.values(v).every((x) => typeof x === 'string');
}
