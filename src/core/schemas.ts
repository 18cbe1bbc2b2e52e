import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parseAllDocuments } from 'yaml';

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext resolution.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** The compiled schema of one kind, from its CustomResourceDefinition in `crds/`. */
export interface KindSchema {
  kind: string;
  plural: string;
  /** `group/version` of the stored version, e.g. `hostop.dev/v1alpha1`. */
  apiVersion: string;
  /** The CRD's openAPIV3Schema of the whole resource, as written (descriptions, defaults): `hostop explain`. */
  schema: Record<string, unknown>;
  /** Validates (and fills defaults into) a document's `spec`. */
  validateSpec: ValidateFunction;
}

export interface SchemaError {
  /** JSON path relative to the document root, e.g. `/spec/port`. */
  path: string;
  message: string;
}

/**
 * Compiles the kinds' schemas from the texts of CustomResourceDefinition files (pure; reading them is
 * `source/crds.ts`). The CRDs are the only schema source; a broken CRD is a bug in hostop itself, so this
 * throws (at start-up), unlike the desired-state loader.
 */
export function compileKindSchemas(crdTexts: readonly string[]): Map<string, KindSchema> {
  // optimize: false compiles three times faster (measured: ~500 -> ~160 ms for all CRDs); start-up matters
  // for every CLI run, while validating a few hundred small documents barely notices the simpler code.
  const ajv = new Ajv({ strict: false, allErrors: true, useDefaults: true, code: { optimize: false } });
  addFormats(ajv);
  // `format: password` marks a secret in the CRDs (a Kubernetes-compatible way to say it); any string is valid.
  ajv.addFormat('password', true);
  const out = new Map<string, KindSchema>();
  for (const text of crdTexts) {
    for (const doc of parseAllDocuments(text)) {
      const crd = doc.toJS() as CrdDocument;
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      const version = crd.spec.versions.find((v) => v.storage) ?? crd.spec.versions[0]!;
      const specSchema = version.schema.openAPIV3Schema.properties?.spec ?? { type: 'object' };
      out.set(crd.spec.names.kind, {
        kind: crd.spec.names.kind,
        plural: crd.spec.names.plural,
        apiVersion: `${crd.spec.group}/${version.name}`,
        schema: version.schema.openAPIV3Schema,
        validateSpec: ajv.compile(closeObjects(structuredClone(specSchema)) as object),
      });
    }
  }
  return out;
}

interface CrdDocument {
  kind: string;
  spec: {
    group: string;
    names: { kind: string; plural: string };
    versions: {
      name: string;
      storage?: boolean;
      schema: { openAPIV3Schema: { properties?: Record<string, unknown> } & Record<string, unknown> };
    }[];
  };
}

/**
 * Kubernetes prunes unknown fields silently; hostop rejects them so a typo never goes unnoticed.
 * Every object schema with `properties` becomes closed unless it says `x-kubernetes-preserve-unknown-fields`.
 */
export function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (!schema || typeof schema !== 'object') return schema;
  const s = schema as Record<string, unknown>;
  for (const [k, v] of Object.entries(s)) s[k] = k === 'default' || k === 'enum' ? v : closeObjects(v);
  if (s.properties && !s['x-kubernetes-preserve-unknown-fields'] && s.additionalProperties === undefined) {
    s.additionalProperties = false;
  }
  return s;
}

/** What a pattern means, by field name, so people read a rule instead of a regular expression. */
const PATTERN_HINTS: Record<string, string> = {
  path: 'must be an absolute, normalised path (starting with /, no "." or ".." segments, no control characters)',
  mode: 'must be a four-digit octal mode string such as "0644"',
  hostKey: 'must be the host\'s ed25519 public key in "ssh-ed25519 AAAA..." form, without a comment',
  unit: 'must be a systemd unit name such as "nginx.service" (letters, digits and :_.@- only)',
  identityFile: 'must be an absolute path to a private key file',
  address: 'must be a DNS name or an IP address',
  user: 'must be a user name (letters, digits, "_", "." and "-")',
  hosts: 'must be the name of a Host resource (lowercase DNS name)',
  notify: 'must be a systemd unit name such as "nginx.service"',
  owner: 'must be a user name or numeric id (no spaces or shell characters)',
  group: 'must be a group name or numeric id (no spaces or shell characters)',
  // By full path where a field name means something else in one kind (Package's .deb path is relative).
  '/spec/source/deb/path':
    'must be a path relative to the desired-state directory, ending in .deb (no "." or ".." segments)',
  '/spec/source/deb/sha256': "must be the .deb's sha256: 64 lowercase hex digits (sha256sum prints it)",
  '/spec/source/deb/url': 'must be an http:// or https:// URL',
  '/spec/package': 'must be a Debian package name (lowercase letters, digits, "+", "-" and ".")',
};

/** Turns ajv's errors into one line each, with the JSON path of the offending field (below `/spec`). */
export function describeSchemaErrors(errors: ErrorObject[] | null | undefined): SchemaError[] {
  const out: SchemaError[] = [];
  for (const e of errors ?? []) {
    let path = `/spec${e.instancePath}`;
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') {
      const extra = String((e.params as { additionalProperty: string }).additionalProperty);
      path = `${path}/${extra}`;
      message = 'unknown field (not in the schema)';
    } else if (e.keyword === 'required') {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      path = `${path}/${missing}`;
      message = 'required field is missing';
    } else if (e.keyword === 'enum') {
      message = `must be one of: ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    } else if (e.keyword === 'pattern') {
      const field =
        path
          .split('/')
          .filter((x) => !/^\d+$/.test(x))
          .pop() ?? '';
      message =
        PATTERN_HINTS[path] ??
        PATTERN_HINTS[field] ??
        `does not match the required pattern ${(e.params as { pattern: string }).pattern}`;
    }
    if (!out.some((o) => o.path === path && o.message === message)) out.push({ path, message });
  }
  return out;
}
