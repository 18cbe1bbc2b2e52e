import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The one architectural rule the type checker cannot see: `src/core` is pure. It reads no file, runs no
 * process, opens no socket and reads no environment; it imports nothing of hostop's outside itself but the
 * generated CRD types (not `source`, `cli`, `ssh`, `daemon`, `engine`, `probe`, `apply`, `observe`, nor the
 * kind registry, which is passed in). Run by `npm run lint`; tested with fixtures in test/unit/architecture.
 */
const IMPURE_BUILTINS =
  /^(node:)?(fs|fs\/promises|child_process|net|http|https|http2|tls|dgram|dns|os|process|worker_threads|cluster|readline|v8|vm)$/;
const ALLOWED_OUTSIDE = /^\.\.\/generated\//;

export interface Violation {
  file: string;
  line: number;
  message: string;
}

/** The violations of the core's boundary in one source file of `src/core` (pure). */
export function coreViolations(file: string, text: string): Violation[] {
  const out: Violation[] = [];
  text.split('\n').forEach((l, i) => {
    const line = i + 1;
    for (const m of l.matchAll(/\bfrom\s+'([^']+)'|\bimport\s*\(\s*'([^']+)'\s*\)|^\s*import\s+'([^']+)'/g)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? '';
      if (IMPURE_BUILTINS.test(spec))
        out.push({ file, line, message: `imports ${spec}: the core does no I/O (move it to src/source)` });
      else if (spec.startsWith('../') && !ALLOWED_OUTSIDE.test(spec))
        out.push({
          file,
          line,
          message: `imports ${spec}: the core imports nothing of hostop's outside src/core`,
        });
    }
    if (/\bprocess\.(env|argv|cwd|exit|stdout|stderr|stdin)\b/.test(l.replace(/\/\/.*$/, '')))
      out.push({ file, line, message: 'reads process state: the core takes what it needs as arguments' });
  });
  return out;
}

/** Every violation under `src/core` of the repository at `root`. */
export function checkCore(root: string): Violation[] {
  const dir = join(root, 'src', 'core');
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) => coreViolations(relative(root, join(dir, f)), readFileSync(join(dir, f), 'utf8')));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const found = checkCore(join(fileURLToPath(import.meta.url), '..', '..'));
  for (const v of found) process.stderr.write(`${v.file}:${v.line}: ${v.message}\n`);
  if (found.length > 0) process.exit(1);
}
