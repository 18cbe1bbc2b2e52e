import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formatOutcomes } from '../../src/cli/plan-output.js';
import { loadDesiredState } from '../../src/source/load.js';
import { type HostFixture, type PlannedHost, planHost } from '../support/plan-pass.js';

/**
 * Golden plans: each test/cases/plan/<case>/ holds `input/*.yaml` (a desired-state directory), `observed.yaml`
 * (what is on each host, see test/support/plan-pass.ts, and the status each host must end in) and `expected/`.
 * Each host is planned by the engine itself (reconcileHost in plan mode) over an in-memory host built from its
 * fixture (test/support/fake-host.ts), which answers the probe and fetch scripts as a real host would.
 * `expected/` holds:
 *   plan.txt   what `hostop plan --no-color` prints (formatOutcomes), diffs included;
 *   plan.json  every host's plan in short: every file with its action (unchanged ones too), unit actions and
 *              why, the files fetched to finish the diff, held resources and checks.
 * `UPDATE_GOLDEN=1` rewrites `expected/`; read every changed line before committing it.
 */
const CASES = fileURLToPath(new URL('../cases/plan/', import.meta.url));
const update = process.env.UPDATE_GOLDEN === '1';

interface CaseFile {
  /** `hostop plan --no-prune` when false. */
  prune?: boolean;
  /** host -> the status its plan must have (a guard that UPDATE_GOLDEN cannot bless away). */
  expect: Record<string, 'in-sync' | 'drifted'>;
  /** host -> what is on it; a host of the desired state not listed here has nothing on it. */
  hosts: Record<string, HostFixture>;
}

function planJson(planned: PlannedHost[]): string {
  const ref = (r: { kind: string; name: string }) => `${r.kind}/${r.name}`;
  const hosts = planned.map(({ plan, fetched, outcome }) => ({
    host: plan.host,
    status: outcome.status,
    files: plan.files.map((f) => ({
      path: f.path,
      action: f.action,
      ...(f.changed.length > 0 && { changed: f.changed }),
      resource: ref(f.resource),
      ...(f.intent && { mode: f.intent.mode, owner: `${f.intent.owner}:${f.intent.group}` }),
      ...(f.intent && f.intent.notify.length > 0 && { notify: f.intent.notify }),
      ...(f.intent?.daemonReload && { daemonReload: true }),
      ...(f.restoresOriginal && { restoresOriginal: true }),
      ...(f.action !== 'unchanged' && f.action !== 'delete' && { diffShown: f.diff !== undefined }),
    })),
    services: plan.services.map((s) => ({
      unit: s.unit,
      actions: s.actions,
      reasons: s.reasons,
      resource: ref(s.resource),
    })),
    ...(fetched.length > 0 && { fetched }),
    ...(plan.needsContent.length > 0 && { stillNeedsContent: plan.needsContent }),
    ...(plan.held.length > 0 && {
      held: plan.held.map((h) => ({ resource: ref(h.resource), reason: h.reason, message: h.message })),
    }),
    ...(outcome.checks.length > 0 && {
      checks: outcome.checks.map((c) => ({ name: c.name, ok: c.ok, message: c.message })),
    }),
  }));
  return `${compactJson(hosts, '')}\n`;
}

/** JSON with every value that fits on one line (a file, a unit, a list of names) on one line. */
function compactJson(v: unknown, indent: string): string {
  const flat = oneLine(v);
  if (v === null || typeof v !== 'object' || indent.length + flat.length <= 110) return flat;
  const inner = `${indent}  `;
  if (Array.isArray(v)) return `[\n${v.map((x) => inner + compactJson(x, inner)).join(',\n')}\n${indent}]`;
  const entries = Object.entries(v).map(([k, x]) => `${inner}${JSON.stringify(k)}: ${compactJson(x, inner)}`);
  return `{\n${entries.join(',\n')}\n${indent}}`;
}

function oneLine(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(oneLine).join(', ')}]`;
  if (v && typeof v === 'object' && Object.keys(v).length > 0)
    return `{ ${Object.entries(v)
      .map(([k, x]) => `${JSON.stringify(k)}: ${oneLine(x)}`)
      .join(', ')} }`;
  return JSON.stringify(v) ?? 'null';
}

async function runCase(
  dir: string,
): Promise<{ text: string; json: string; planned: PlannedHost[]; spec: CaseFile }> {
  const loaded = loadDesiredState(join(dir, 'input'));
  expect(loaded.problems.filter((p) => p.severity === 'error')).toEqual([]);
  const spec = parse(readFileSync(join(dir, 'observed.yaml'), 'utf8')) as CaseFile;
  for (const k of Object.keys(spec)) expect(['prune', 'expect', 'hosts'], `observed.yaml: ${k}`).toContain(k);
  const intents = loaded.intents!;
  for (const h of Object.keys(spec.hosts ?? {}))
    expect(
      intents.map((i) => i.host.name),
      `observed.yaml: host ${h}`,
    ).toContain(h);
  // Every host of the desired state is planned, as `hostop plan` does (in-sync ones print nothing).
  const planned: PlannedHost[] = [];
  for (const intent of intents)
    planned.push(await planHost(intent, spec.hosts?.[intent.host.name] ?? {}, { prune: spec.prune }));
  const text = formatOutcomes(
    planned.map((p) => p.outcome),
    { color: false, verb: 'plan' },
  );
  return { text, json: planJson(planned), planned, spec };
}

const cases = readdirSync(CASES)
  .filter((n) => statSync(join(CASES, n)).isDirectory())
  .sort();

describe('golden plans (observed state -> plan)', () => {
  it('has cases', () => {
    expect(cases.length).toBeGreaterThan(10);
  });

  it.each(cases)('%s', async (name) => {
    const dir = join(CASES, name);
    const { text, json, planned, spec } = await runCase(dir);
    // Deterministic: a second pass over the same input is byte-identical.
    const again = await runCase(dir);
    expect(again.text).toBe(text);
    expect(again.json).toBe(json);

    const statuses = Object.fromEntries(planned.map((p) => [p.outcome.host, p.outcome.status]));
    expect(statuses, 'observed.yaml expect: every host with its status').toEqual(spec.expect);
    // No absolute temporary path or timing leaks into what is compared.
    expect(text + json).not.toMatch(/\/tmp\/|hostop-ds-|durationMs/);

    const expectedDir = join(dir, 'expected');
    if (update) {
      mkdirSync(expectedDir, { recursive: true });
      writeFileSync(join(expectedDir, 'plan.txt'), text);
      writeFileSync(join(expectedDir, 'plan.json'), json);
    }
    expect(text, 'expected/plan.txt').toBe(readFileSync(join(expectedDir, 'plan.txt'), 'utf8'));
    expect(json, 'expected/plan.json').toBe(readFileSync(join(expectedDir, 'plan.json'), 'utf8'));
  });
});
