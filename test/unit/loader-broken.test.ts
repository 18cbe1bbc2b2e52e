import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatProblem } from '../../src/cli/problems-output.js';
import { loadDesiredState } from '../../src/source/load.js';
import { MAX_FILE_BYTES } from '../../src/source/read-files.js';

// Each folder under test/broken/ is one broken desired state; EXPECTED holds every problem line it must yield,
// exactly (file, line, message, JSON path). UPDATE_GOLDEN=1 rewrites EXPECTED (review the diff by eye).
// Relative to the repository root (vitest's cwd), so problems name files as a user would see them.
const root = join('test', 'broken');
const cases = readdirSync(root).filter((d) => /^\d\d-/.test(d));

function prepare(dir: string) {
  if (dir.endsWith('16-oversize-file')) {
    const big = join(dir, 'big.yaml');
    if (!existsSync(big)) writeFileSync(big, `# ${'x'.repeat(MAX_FILE_BYTES)}\n`);
  }
}

describe('broken desired states are refused with precise problems', () => {
  it('has at least 20 cases', () => expect(cases.length).toBeGreaterThanOrEqual(20));

  for (const name of cases) {
    it(name, () => {
      const dir = join(root, name);
      prepare(dir);
      const result = loadDesiredState(dir);
      expect(result.snapshot).toBeUndefined();
      const lines = result.problems.map(formatProblem).join('\n') + '\n';
      const expectedFile = join(dir, 'EXPECTED');
      if (process.env.UPDATE_GOLDEN) writeFileSync(expectedFile, lines);
      expect(lines).toBe(readFileSync(expectedFile, 'utf8'));
      expect(result.problems.some((p) => p.severity === 'error')).toBe(true);
    });
  }
});
