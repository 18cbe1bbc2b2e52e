/**
 * Derives src/generated/crd-types.ts from the CRDs in crds/ (the only schema source): one `<Kind>Spec`
 * interface per kind. Run `npx tsx scripts/gen-types.ts` after editing a CRD; test/unit/crds.test.ts fails
 * while the checked-in file is stale.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type JSONSchema, compile } from 'json-schema-to-typescript';
import { parse } from 'yaml';

const ROOT = new URL('../', import.meta.url);
export const CRD_TYPES_PATH = fileURLToPath(new URL('src/generated/crd-types.ts', ROOT));

const BANNER = [
  '/* generated, do not edit: derived from crds/*.yaml by scripts/gen-types.ts (npx tsx scripts/gen-types.ts). */',
  '/* Fields with a CRD default are required here: the loader fills them in before any kind sees a spec. */',
  '',
].join('\n');

interface Crd {
  kind: string;
  spec: {
    names: { kind: string };
    versions: { storage?: boolean; schema: { openAPIV3Schema: JSONSchema } }[];
  };
}

/** The file content for the CRDs as they are on disk now. Deterministic: same CRDs, same bytes. */
export async function generateCrdTypes(): Promise<string> {
  const crdDir = new URL('crds/', ROOT);
  const parts: string[] = [];
  for (const file of readdirSync(crdDir)
    .filter((n) => /\.ya?ml$/.test(n))
    .sort()) {
    const crd = parse(readFileSync(new URL(file, crdDir), 'utf8')) as Crd;
    if (crd?.kind !== 'CustomResourceDefinition') continue;
    const version = crd.spec.versions.find((v) => v.storage) ?? crd.spec.versions[0]!;
    const spec = version.schema.openAPIV3Schema.properties?.spec;
    if (!spec) throw new Error(`${file}: openAPIV3Schema has no spec`);
    const name = `${crd.spec.names.kind}Spec`;
    parts.push(
      await compile(toTypeSchema(structuredClone(spec)), name, {
        bannerComment: '',
        additionalProperties: false,
        declareExternallyReferenced: true,
        unknownAny: true,
        format: true,
        style: { singleQuote: true, printWidth: 110, semi: true, trailingComma: 'all' },
      }),
    );
  }
  return `${BANNER}${parts.join('\n')}`;
}

/**
 * Adapts a structural schema for type generation: free-form objects (x-kubernetes-preserve-unknown-fields)
 * get an index signature, and defaulted properties become required because they are always present after load.
 */
function toTypeSchema(node: JSONSchema): JSONSchema {
  if (Array.isArray(node) || !node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'default' || key === 'enum' || key === 'description') out[key] = value;
    else if (key === 'properties') {
      out[key] = Object.fromEntries(
        Object.entries(value as Record<string, JSONSchema>).map(([k, v]) => [k, toTypeSchema(v)]),
      );
    } else if (value && typeof value === 'object') out[key] = toTypeSchema(value as JSONSchema);
    else out[key] = value;
  }
  if (out['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = true;
  const props = out.properties as Record<string, JSONSchema> | undefined;
  if (props) {
    const defaulted = Object.keys(props).filter((k) => props[k]?.default !== undefined);
    const required = new Set([...((out.required as string[] | undefined) ?? []), ...defaulted]);
    if (required.size > 0) out.required = [...required];
  }
  return out as JSONSchema;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(CRD_TYPES_PATH, await generateCrdTypes());
  process.stdout.write(`wrote ${CRD_TYPES_PATH}\n`);
}
