import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ALL_KINDS_SCHEMA, EDITOR_SCHEMA_DIR, editorSchemas } from '../../src/core/editor-schemas.js';
import { kindSchemas } from '../../src/source/crds.js';

// The editor schemas (crds/json-schema) are generated from the CRDs and checked in: stale files fail here. They
// are then used as an editor would, through a JSON Schema validator (draft-07), on the reference fleet and on
// documents with the mistakes users make.
const generated = editorSchemas(kindSchemas());

function validator() {
  const ajv = new Ajv({ allErrors: true, strict: false });
  for (const [name, text] of generated) ajv.addSchema(JSON.parse(text) as object, name);
  return ajv.getSchema(ALL_KINDS_SCHEMA)!;
}

const yamlFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : [],
  );

describe('editor schemas', () => {
  it('are up to date with the CRDs (run `npx tsx scripts/gen-schemas.ts`)', () => {
    const onDisk = readdirSync(EDITOR_SCHEMA_DIR).sort();
    expect(onDisk).toEqual([...generated.keys()].sort());
    for (const [name, text] of generated)
      expect(readFileSync(join(EDITOR_SCHEMA_DIR, name), 'utf8')).toBe(text);
  });

  it('accept every document of the reference fleet', () => {
    const validate = validator();
    const files = yamlFiles('desired-state');
    expect(files.length).toBeGreaterThan(5);
    for (const file of files)
      for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
        const ok = validate(doc.toJS());
        expect({ file, ok, errors: validate.errors?.slice(0, 3) ?? [] }).toEqual({
          file,
          ok: true,
          errors: [],
        });
      }
  });

  it('flag an unknown field, a wrong type and a missing required field, at their paths', () => {
    const validate = validator();
    const file = (spec: Record<string, unknown>) => ({
      apiVersion: 'hostop.dev/v1alpha1',
      kind: 'File',
      metadata: { name: 'motd' },
      spec: { hosts: ['web-01'], path: '/etc/motd', content: 'hi\n', ...spec },
    });
    const errors = (doc: unknown) => {
      validate(doc);
      return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.keyword}`);
    };
    expect(errors(file({}))).toEqual([]);
    expect(errors(file({ modee: '0644' }))).toContain('/spec additionalProperties');
    expect(errors(file({ mode: 644 }))).toContain('/spec/mode type');
    const { content: _, ...noContent } = file({}).spec;
    expect(errors({ ...file({}), spec: noContent })).toContain('/spec required');
    expect(errors({ ...file({}), kind: 'Nginx' })).toContain('/kind enum');
  });
});
