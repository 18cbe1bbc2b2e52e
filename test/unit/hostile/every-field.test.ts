import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { buildSnapshot } from '../../../src/core/build-snapshot.js';
import type { FileIntent } from '../../../src/core/model.js';
import { renderSnapshot } from '../../../src/core/render.js';
import { kindByName } from '../../../src/kinds/registry.js';
import { kindSchemas } from '../../../src/source/crds.js';
import { type SourceFile, readDesiredStateFiles } from '../../../src/source/read-files.js';
import { hostileString } from './hostile-strings.js';

// Every string field of every kind of the reference fleet, and the keys of every map, replaced by generated
// hostile strings. For each case: either the loader refuses it with an error naming that field (or its map), or
// the rendered files keep exactly the structure the benign value gives — no injected line, key, assignment or
// YAML type — so the value stays data wherever it lands.

const files = readDesiredStateFiles('desired-state');
const hostsFile = files.find((f) => f.file.endsWith('hosts.yaml'))!;
const MAP_FIELDS = new Set([
  'labels',
  'annotations',
  'env',
  'headers',
  'resourceAttributes',
  'externalLabels',
  'matchLabels',
]);
const CANARY = '/tmp/hostop-canary';
const LEAVES_PER_DOC = 24;

interface Doc {
  file: string;
  value: Record<string, unknown>;
}

/** Resources of the reference fleet, each to be loaded alone with the fleet's hosts. */
function documents(): Doc[] {
  const docs: Doc[] = [];
  for (const f of files) {
    for (const d of parseAllDocuments(f.text!)) {
      const value = d.toJS() as Record<string, unknown> | null;
      if (!value) continue;
      // One resource per kind, but every AppInstrumentation (systemd drop-in, LiteLLM, php-fpm pool render apart).
      if (value.kind !== 'AppInstrumentation' && docs.some((x) => x.value.kind === value.kind)) continue;
      docs.push({ file: f.file, value });
    }
  }
  return docs;
}

type Leaf = { pointer: string[]; key: boolean };

/** String leaves (and map keys) under metadata and spec, as paths of property names. */
function leaves(value: unknown, at: string[] = []): Leaf[] {
  if (typeof value === 'string') return [{ pointer: at, key: false }];
  if (!value || typeof value !== 'object') return [];
  const out: Leaf[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (at.length === 0 && k !== 'metadata' && k !== 'spec') continue;
    if (MAP_FIELDS.has(at.at(-1) ?? '') && typeof v === 'string')
      out.push({ pointer: [...at, k], key: true });
    out.push(...leaves(v, [...at, k]));
  }
  return out;
}

/** Evenly spread sample, so every part of a large resource (a dashboard) is hit and runs stay short. */
function sample<T>(xs: T[], n: number): T[] {
  if (xs.length <= n) return xs;
  return Array.from({ length: n }, (_, i) => xs[Math.floor((i * xs.length) / n)]!);
}

function mutate(doc: Record<string, unknown>, leaf: Leaf, value: string): { doc: unknown; path: string } {
  const copy = structuredClone(doc);
  let node = copy as Record<string, unknown>;
  for (const k of leaf.pointer.slice(0, -1)) node = node[k] as Record<string, unknown>;
  const last = leaf.pointer.at(-1)!;
  const pointer = leaf.pointer.slice(0, -1);
  if (leaf.key) {
    const v = node[last];
    delete node[last];
    node[value] = v;
    pointer.push(value);
  } else {
    node[last] = value;
    pointer.push(last);
  }
  return {
    doc: copy,
    path: `/${pointer.map((s) => s.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`,
  };
}

function load(doc: unknown) {
  const underTest: SourceFile = {
    file: 'desired-state/under-test.yaml',
    text: stringify(doc, { lineWidth: 0 }),
  };
  // A Host is tested alone: the fleet's hosts.yaml already defines it.
  const set = (doc as { kind: string }).kind === 'Host' ? [underTest] : [hostsFile, underTest];
  return buildSnapshot(set, kindSchemas(), kindByName);
}

function rendered(doc: unknown): FileIntent[] {
  const r = load(doc);
  expect(r.snapshot, JSON.stringify(r.problems.slice(0, 3))).toBeDefined();
  return renderSnapshot(r.snapshot!, kindByName).flatMap((i) => i.files);
}

/** The structure of a parsed value with its strings blanked: what a hostile string must not change. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shape);
  if (v && typeof v === 'object') return Object.values(v as object).map(shape);
  return typeof v;
}

/** Line by line: the leading token, and whether the line is one complete `NAME="quoted"` or `NAME = "quoted"`. */
function textShape(content: string): string[] {
  return content.split('\n').map((line) => {
    const token = /^[^=:\s"[]*/.exec(line)![0];
    const quoted = /^[\w.[\]-]+ ?= ?"(?:[^"\\]|\\.)*"$/.test(line);
    return `${token}|${quoted}`;
  });
}

function structure(f: FileIntent): unknown {
  if (f.format === 'json') return shape(JSON.parse(f.content));
  if (f.format === 'yaml') return shape(parseYaml(f.content, { version: '1.1' }));
  return textShape(f.content);
}

describe('a hostile string in any field of any kind', () => {
  const docs = documents();

  it('covers every kind of the reference fleet', () => {
    expect(new Set(docs.map((d) => d.value.kind)).size).toBeGreaterThanOrEqual(9);
  });

  for (const d of docs) {
    const name = `${d.value.kind}/${(d.value.metadata as { name: string }).name}`;
    it(`${name}: refused at the field, or rendered with an unchanged structure`, () => {
      // A dashboard is hundreds of similar panel strings: fewer of them say as much.
      const cases = sample(leaves(d.value), d.value.kind === 'GrafanaDashboard' ? 10 : LEAVES_PER_DOC);
      expect(cases.length).toBeGreaterThan(0);
      for (const leaf of cases) {
        const benign = mutate(d.value, leaf, leaf.key ? 'benign-key' : 'benign');
        const base = load(benign.doc);
        const before = base.snapshot ? rendered(benign.doc) : [];
        // Some fields only take enums or patterns: then the benign value is refused too, at that field.
        fc.assert(
          fc.property(hostileString(CANARY, 3), (value) => {
            const hostile = mutate(d.value, leaf, value);
            const result = load(hostile.doc);
            if (!result.snapshot) {
              const errors = result.problems.filter((p) => p.severity === 'error');
              const parent = hostile.path.slice(0, hostile.path.lastIndexOf('/'));
              const named = errors.some(
                (p) => p.path !== '' && (hostile.path.startsWith(p.path) || p.path.startsWith(parent)),
              );
              expect(named, `${hostile.path}: ${JSON.stringify(errors.slice(0, 3))}`).toBe(true);
              return;
            }
            if (!base.snapshot) return; // accepted only in hostile form: nothing benign to compare with
            const after = renderSnapshot(result.snapshot, kindByName).flatMap((i) => i.files);
            expect(after.length, hostile.path).toBe(before.length);
            if (hostile.path === '/spec/content') {
              // A File's content is the file: exactly those bytes (file-bytes.test.ts writes them on a real sh).
              for (const f of after) expect(f.content).toBe(value);
              return;
            }
            after.forEach((f, i) => {
              expect(structure(f), `${hostile.path} -> ${f.path}`).toEqual(structure(before[i]!));
            });
          }),
          { numRuns: 3 },
        );
      }
    });
  }
});

describe('strings that reach no file are refused too', () => {
  const file = (metadata: Record<string, unknown>, spec: Record<string, unknown> = {}) => ({
    apiVersion: 'hostop.dev/v1alpha1',
    kind: 'File',
    metadata: { name: 'f', ...metadata },
    spec: { hosts: ['monitoring-01'], path: '/etc/f', content: 'x', ...spec },
  });
  const errorsOf = (doc: unknown) =>
    load(doc)
      .problems.filter((p) => p.severity === 'error')
      .map((p) => p.path);

  it('label and annotation keys that are not Kubernetes qualified names, naming the key', () => {
    expect(errorsOf(file({ labels: { 'bad\nkey': 'v' } }))).toEqual(['/metadata/labels/bad\nkey']);
    expect(errorsOf(file({ annotations: { 'a/b/c': 'v' } }))).toEqual(['/metadata/annotations/a~1b~1c']);
    expect(errorsOf(file({ labels: { '$(touch x)': 'v' } }))).toEqual(['/metadata/labels/$(touch x)']);
    expect(errorsOf(file({ labels: { 'app.kubernetes.io/name': 'v', role: 'x' } }))).toEqual([]);
  });

  it('a NUL byte anywhere but a File content (which is only ever base64 on the wire), naming the field', () => {
    expect(errorsOf(file({}, { validate: { argv: ['/bin/true', 'a\0b', '{}'] } }))).toEqual([
      '/spec/validate/argv/1',
    ]);
    expect(errorsOf(file({}, { content: 'a\0b' }))).toEqual([]);
  });
});
