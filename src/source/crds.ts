import { readFileSync, readdirSync } from 'node:fs';
import { type KindSchema, compileKindSchemas } from '../core/schemas.js';

/** Directory of the CRDs shipped with hostop (same relative place from `src/source` and `dist/source`). */
export const CRD_DIR = new URL('../../crds/', import.meta.url);

let cached: Map<string, KindSchema> | undefined;

/** The schemas of every CRD in `crds/`, read and compiled once per process. */
export function kindSchemas(): Map<string, KindSchema> {
  cached ??= compileKindSchemas(
    readdirSync(CRD_DIR)
      .filter((n) => /\.ya?ml$/.test(n))
      .sort()
      .map((n) => readFileSync(new URL(n, CRD_DIR), 'utf8')),
  );
  return cached;
}
