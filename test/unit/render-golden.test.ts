import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { HostIntent } from '../../src/core/model.js';
import { renderSnapshot } from '../../src/core/render.js';
import { kindByName } from '../../src/kinds/registry.js';
import { loadDesiredState } from '../../src/source/load.js';

/**
 * Golden render tests: each test/cases/NNN-name/ holds `input/*.yaml` (Hosts and the resources under test)
 * and `expected/<host>/`, one file per rendered path (slashes as `__`) with its exact bytes, plus
 * `_intent.json` with everything else of the host's intent (modes, validators, notify, services, checks).
 * `UPDATE_GOLDEN=1` rewrites `expected/`; review every changed file against DOMAIN.md before committing it.
 */
const CASES = fileURLToPath(new URL('../cases/', import.meta.url));
const update = process.env.UPDATE_GOLDEN === '1';

function expectedFiles(intents: HostIntent[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const intent of intents) {
    const packages = intent.packages?.length ?? 0;
    if (intent.files.length + intent.services.length + intent.checks.length + packages === 0) continue;
    const host = intent.host.name;
    for (const f of intent.files) out.set(join(host, f.path.slice(1).replaceAll('/', '__')), f.content);
    const rest = {
      files: intent.files.map(({ content: _content, ...meta }) => meta),
      services: intent.services,
      checks: intent.checks,
      ...(intent.versions.length > 0 && { versions: intent.versions }),
      // Without the loader's absolute path of a .deb: it names this checkout, not the case.
      ...(intent.packages && {
        packages: intent.packages.map((p) => (p.deb ? { ...p, deb: { ...p.deb, file: undefined } } : p)),
      }),
    };
    out.set(join(host, '_intent.json'), `${JSON.stringify(rest, null, 2)}\n`);
  }
  return out;
}

function readTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  let entries: string[] = [];
  try {
    entries = readdirSync(dir, { recursive: true, encoding: 'utf8' });
  } catch {
    return out;
  }
  for (const rel of entries.sort()) {
    try {
      out.set(rel, readFileSync(join(dir, rel), 'utf8'));
    } catch {
      // a directory
    }
  }
  return out;
}

const cases = readdirSync(CASES)
  .filter((n) => /^\d{3}-/.test(n))
  .sort();

describe('golden renders', () => {
  it('has cases', () => {
    expect(cases.length).toBeGreaterThan(10);
  });

  it.each(cases)('%s', (name) => {
    const dir = join(CASES, name);
    const loaded = loadDesiredState(join(dir, 'input'));
    expect(loaded.problems.filter((p) => p.severity === 'error')).toEqual([]);
    const intents = renderSnapshot(loaded.snapshot!, kindByName);
    // Deterministic: a second render is byte-identical.
    expect(renderSnapshot(loaded.snapshot!, kindByName)).toEqual(intents);
    const actual = expectedFiles(intents);
    const expectedDir = join(dir, 'expected');
    if (update) {
      rmSync(expectedDir, { recursive: true, force: true });
      for (const [rel, content] of actual) {
        mkdirSync(dirname(join(expectedDir, rel)), { recursive: true });
        writeFileSync(join(expectedDir, rel), content);
      }
    }
    const expected = readTree(expectedDir);
    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [rel, content] of actual) expect(content, rel).toBe(expected.get(rel));
  });
});
