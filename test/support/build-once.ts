import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The newest modification time of the files below `dir`. */
function newest(dir: string): number {
  return Math.max(
    ...readdirSync(dir, { recursive: true }).map((f) => statSync(join(dir, String(f))).mtimeMs),
  );
}

/**
 * Vitest global setup: the CLI tests run the built CLI (bin/hostop.js → dist/), as a user does, so `npm run
 * test:unit` builds it first when dist/ is missing or older than src/ (tsc, about 10 s) and needs no prior build.
 */
export default function setup(): void {
  const cli = join(ROOT, 'dist', 'cli.js');
  if (existsSync(cli) && statSync(cli).mtimeMs >= newest(join(ROOT, 'src'))) return;
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  );
}
