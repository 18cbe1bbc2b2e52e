/**
 * Writes the editor schemas (crds/json-schema/*.json) from the CRDs: `npx tsx scripts/gen-schemas.ts` after
 * editing a CRD; test/unit/editor-schemas.test.ts fails while the checked-in files are stale.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EDITOR_SCHEMA_DIR, editorSchemas } from '../src/core/editor-schemas.js';
import { kindSchemas } from '../src/source/crds.js';

const dir = resolve(import.meta.dirname, '..', EDITOR_SCHEMA_DIR);
mkdirSync(dir, { recursive: true });
const files = editorSchemas(kindSchemas());
for (const name of readdirSync(dir)) if (!files.has(name)) rmSync(join(dir, name));
for (const [name, text] of files) writeFileSync(join(dir, name), text);
process.stdout.write(`${files.size} schemas in ${EDITOR_SCHEMA_DIR}\n`);
