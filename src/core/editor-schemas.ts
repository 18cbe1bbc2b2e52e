import { closeObjects } from './schemas.js';
import type { KindSchema } from './schemas.js';

/** Where the editor schemas live in the repository and the npm package (beside the CRDs they come from). */
export const EDITOR_SCHEMA_DIR = 'crds/json-schema';
/** The schema of a file that mixes kinds, each document checked against its `kind`'s schema. */
export const ALL_KINDS_SCHEMA = 'hostop.json';

/** metadata as the loader checks it (build-snapshot.ts, checkMetadata): name required, labels and annotations. */
const METADATA = {
  type: 'object',
  description: 'Standard object metadata: name, labels, annotations.',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: {
      type: 'string',
      description: 'A lowercase DNS name: a-z, 0-9, "-" and ".", starting and ending alphanumeric.',
      pattern: '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$',
    },
    labels: {
      type: 'object',
      description: 'Labels (hostSelector matches Host labels).',
      additionalProperties: { type: 'string', maxLength: 63 },
    },
    annotations: {
      type: 'object',
      description: 'Free-form notes.',
      additionalProperties: { type: 'string' },
    },
  },
};

/**
 * JSON Schemas (draft-07) for editors (yaml-language-server: VS Code's YAML extension, Neovim, Helix), generated
 * from the CRDs (pure): one per kind (`file.json`, ...) with every object closed as hostop's loader closes them, and
 * `hostop.json` for a file of any kinds, each document checked by its `kind`. File name → JSON text.
 */
export function editorSchemas(kinds: ReadonlyMap<string, KindSchema>): Map<string, string> {
  const out = new Map<string, string>();
  const sorted = [...kinds.values()].sort((a, b) => a.kind.localeCompare(b.kind));
  for (const k of sorted) {
    const root = k.schema as { description?: string; properties?: { spec?: unknown } };
    const schema = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      title: k.kind,
      description: root.description,
      type: 'object',
      required: ['apiVersion', 'kind', 'metadata', 'spec'],
      additionalProperties: false,
      properties: {
        apiVersion: { const: k.apiVersion, description: `Always ${k.apiVersion}.` },
        kind: { const: k.kind, description: `Always ${k.kind}.` },
        metadata: METADATA,
        spec: closeObjects(structuredClone(root.properties?.spec ?? { type: 'object' })),
      },
    };
    out.set(fileOf(k), `${JSON.stringify(schema, null, 2)}\n`);
  }
  const all = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'hostop desired state',
    description: 'Any hostop resource; each document is checked against the schema of its kind.',
    type: 'object',
    required: ['apiVersion', 'kind'],
    properties: { kind: { enum: sorted.map((k) => k.kind), description: 'The kind of resource.' } },
    allOf: sorted.map((k) => ({
      if: { properties: { kind: { const: k.kind } }, required: ['kind'] },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, not a promise
      then: { $ref: fileOf(k) },
    })),
  };
  out.set(ALL_KINDS_SCHEMA, `${JSON.stringify(all, null, 2)}\n`);
  return out;
}

const fileOf = (k: KindSchema) => `${k.kind.toLowerCase()}.json`;
