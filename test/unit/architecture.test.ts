import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkCore, coreViolations } from '../../scripts/check-boundaries.js';

describe('the core boundary (scripts/check-boundaries.ts, run by npm run lint)', () => {
  it('holds for src/core as it is', () => {
    expect(checkCore(join(import.meta.dirname, '../..'))).toEqual([]);
  });

  it('fails on a core file that reads the disk, runs git, imports the registry or reads the environment', () => {
    const fixture = [
      "import { readFileSync } from 'node:fs';",
      "import { execFileSync } from 'child_process';",
      "import { kindByName } from '../kinds/registry.js';",
      "import type { ConnectionPool } from '../ssh/connection-pool.js';",
      "import type { CollectorSpec } from '../generated/crd-types.js';",
      "import { parseDocument } from 'yaml';",
      "import { model } from './model.js';",
      "const mod = await import('node:os');",
      'export const home = process.env.HOME;',
    ].join('\n');
    expect(coreViolations('src/core/bad.ts', fixture).map((v) => [v.line, v.message.split(':')[0]])).toEqual([
      [1, 'imports node'],
      [2, 'imports child_process'],
      [3, 'imports ../kinds/registry.js'],
      [4, 'imports ../ssh/connection-pool.js'],
      [8, 'imports node'],
      [9, 'reads process state'],
    ]);
  });
});
