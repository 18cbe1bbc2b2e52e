import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { CRD_TYPES_PATH, generateCrdTypes } from '../../scripts/gen-types.js';
import { kinds } from '../../src/kinds/registry.js';
import { loadDesiredState } from '../../src/source/load.js';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CRD_DIR = join(ROOT, 'crds');
const DESIRED = join(ROOT, 'desired-state');

type Schema = Record<string, unknown>;
interface Crd {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string };
    versions: { name: string; served: boolean; storage: boolean; schema: { openAPIV3Schema: Schema } }[];
  };
}

const crdFiles = readdirSync(CRD_DIR)
  .filter((n) => n.endsWith('.yaml'))
  .sort();
const crds = crdFiles.map((file) => ({ file, crd: parse(readFileSync(join(CRD_DIR, file), 'utf8')) as Crd }));
const specSchema = (crd: Crd) =>
  (crd.spec.versions[0]!.schema.openAPIV3Schema.properties as Record<string, Schema>).spec!;

/** Every schema node below `node`, with its JSON path, including array items and map values. */
function* schemaNodes(node: Schema, path: string): Generator<[string, Schema]> {
  yield [path, node];
  for (const [name, child] of Object.entries((node.properties as Record<string, Schema>) ?? {})) {
    yield* schemaNodes(child, `${path}.${name}`);
  }
  if (node.items) yield* schemaNodes(node.items as Schema, `${path}[]`);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') {
    yield* schemaNodes(node.additionalProperties as Schema, `${path}{}`);
  }
}

/** The loader's rule: an object schema with properties is closed unless it preserves unknown fields. */
function closeObjects(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closeObjects);
  if (!node || typeof node !== 'object') return node;
  const s = Object.fromEntries(
    Object.entries(node).map(([k, v]) => [k, k === 'default' || k === 'enum' ? v : closeObjects(v)]),
  );
  if (s.properties && !s['x-kubernetes-preserve-unknown-fields']) s.additionalProperties = false;
  return s;
}

function newAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, useDefaults: true });
  addFormats(ajv);
  ajv.addFormat('password', true);
  return ajv;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

describe('CRDs', () => {
  it('has one CRD per registered kind, and no other', () => {
    expect(crds.map(({ crd }) => crd.spec.names.kind).sort()).toEqual(kinds.map((k) => k.kind).sort());
  });

  it.each(crds)(
    '$file is a hostop.dev/v1alpha1 CustomResourceDefinition named after its plural',
    ({ file, crd }) => {
      expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
      expect(crd.kind).toBe('CustomResourceDefinition');
      expect(crd.spec.group).toBe('hostop.dev');
      expect(file).toBe(`${crd.spec.names.plural}.yaml`);
      expect(crd.metadata.name).toBe(`${crd.spec.names.plural}.hostop.dev`);
      expect(crd.spec.versions).toHaveLength(1);
      expect(crd.spec.versions[0]).toMatchObject({ name: 'v1alpha1', served: true, storage: true });
    },
  );

  it.each(crds)('$file is structural: every node has a type, every field a description', ({ crd }) => {
    const problems: string[] = [];
    for (const [path, node] of schemaNodes(crd.spec.versions[0]!.schema.openAPIV3Schema, 'openAPIV3Schema')) {
      if (typeof node.type !== 'string') problems.push(`${path}: no type`);
      if (!path.endsWith('[]') && !path.endsWith('{}') && typeof node.description !== 'string') {
        problems.push(`${path}: no description`);
      }
      // Kubernetes rejects these in structural schemas.
      if (node.properties && node.additionalProperties !== undefined)
        problems.push(`${path}: properties and additionalProperties`);
      if (
        node.type === 'object' &&
        !node.properties &&
        !node.additionalProperties &&
        !node['x-kubernetes-preserve-unknown-fields'] &&
        !path.endsWith('.metadata')
      ) {
        problems.push(
          `${path}: an object with no properties, no additionalProperties and no preserve-unknown-fields`,
        );
      }
      // The API server compiles patterns with Go's RE2: no lookaround, no backreferences.
      if (typeof node.pattern === 'string' && /\(\?[=!<]|\\[1-9]/.test(node.pattern))
        problems.push(`${path}: pattern not RE2`);
    }
    expect(problems).toEqual([]);
  });

  it.each(crds)('$file: every default is valid for its own field', ({ crd }) => {
    const ajv = newAjv();
    const problems: string[] = [];
    for (const [path, node] of schemaNodes(specSchema(crd), 'spec')) {
      if (node.default === undefined) continue;
      const validate = ajv.compile(closeObjects(structuredClone(node)) as Schema);
      if (!validate(structuredClone(node.default)))
        problems.push(`${path}: ${ajv.errorsText(validate.errors)}`);
    }
    expect(problems).toEqual([]);
  });

  it('generated types are up to date (run `npx tsx scripts/gen-types.ts`)', async () => {
    expect(readFileSync(CRD_TYPES_PATH, 'utf8')).toBe(await generateCrdTypes());
  });
});

describe('desired-state/', () => {
  const ajv = newAjv();
  const validators = new Map(
    crds.map(({ crd }) => [
      crd.spec.names.kind,
      ajv.compile(closeObjects(structuredClone(specSchema(crd))) as Schema),
    ]),
  );
  const documents = yamlFiles(DESIRED).flatMap((file) =>
    parseAllDocuments(readFileSync(file, 'utf8')).map((doc, i) => ({
      where: `${file.slice(ROOT.length)}#${i}`,
      value: doc.toJS() as { apiVersion: string; kind: string; spec: unknown },
    })),
  );

  it('holds documents', () => {
    expect(documents.length).toBeGreaterThan(20);
  });

  it.each(documents)('$where validates against the CRD of its kind', ({ value }) => {
    expect(value.apiVersion).toBe('hostop.dev/v1alpha1');
    const validate = validators.get(value.kind);
    expect(validate, `no CRD for kind ${value.kind}`).toBeDefined();
    const ok = validate!(structuredClone(value.spec));
    expect(validate!.errors ?? [], JSON.stringify(validate!.errors)).toEqual([]);
    expect(ok).toBe(true);
  });

  it('uses every kind', () => {
    expect(new Set(documents.map((d) => d.value.kind))).toEqual(new Set(kinds.map((k) => k.kind)));
  });

  it('loads with no problem at all (errors or warnings)', () => {
    const result = loadDesiredState(DESIRED);
    expect(result.problems).toEqual([]);
    expect(result.snapshot?.hosts.map((h) => h.name)).toHaveLength(16);
  });
});
