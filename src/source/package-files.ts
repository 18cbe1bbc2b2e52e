import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { BuildResult } from '../core/build-snapshot.js';
import type { Problem } from '../core/model.js';

/**
 * A `.deb` is a package, not config: it is never read as YAML, and its limit is this, not the YAML one
 * (otelcol-contrib's release .deb is about 100 MB; Grafana's about 120 MB).
 */
export const MAX_DEB_BYTES = 1024 * 1024 * 1024;

/** Hashes by file, kept while the file's size and mtime stay: the daemon reloads often, a .deb rarely changes. */
const hashes = new Map<string, { size: number; mtimeMs: number; sha256: string }>();

/**
 * The loader's side of `Package` `.deb` files: each `source.deb.path` is resolved against the desired-state
 * directory (into `deb.file`) and must be a regular file within MAX_DEB_BYTES whose sha256 is the declared one.
 * Anything else is an error at the Package's file and line: a wrong hash is refused before any byte reaches a
 * host, and `hostop validate` says so. The result stays valid only if no error was added.
 */
export function checkPackageFiles(dir: string, built: BuildResult): BuildResult {
  if (!built.snapshot || !built.intents) return built;
  const problems: Problem[] = [];
  const said = new Set<string>();
  for (const intent of built.intents)
    for (const p of intent.packages ?? []) {
      const deb = p.deb;
      if (!deb?.path) continue;
      deb.file = resolve(dir, deb.path);
      const wrong = debProblem(deb.file, deb.sha256);
      const key = `${p.resource.kind}/${p.resource.name}`;
      if (!wrong || said.has(key)) continue;
      said.add(key);
      const res = built.snapshot.resources.find(
        (r) => r.kind === p.resource.kind && r.metadata.name === p.resource.name,
      );
      problems.push({
        severity: 'error',
        file: res?.source.file ?? dir,
        line: res?.source.line,
        path: '/spec/source/deb/path',
        message: `${key}: ${deb.path}: ${wrong}`,
      });
    }
  if (problems.length === 0) return built;
  return { problems: [...built.problems, ...problems] };
}

function debProblem(file: string, declared: string): string | undefined {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(file);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
  }
  if (!st.isFile()) return 'not a regular file';
  if (st.size > MAX_DEB_BYTES)
    return `file is ${st.size} bytes, over the ${MAX_DEB_BYTES}-byte limit for a package`;
  let known = hashes.get(file);
  if (!known || known.size !== st.size || known.mtimeMs !== st.mtimeMs) {
    known = {
      size: st.size,
      mtimeMs: st.mtimeMs,
      sha256: createHash('sha256').update(readFileSync(file)).digest('hex'),
    };
    hashes.set(file, known);
  }
  if (known.sha256 !== declared)
    return `sha256 is ${known.sha256}, the Package declares ${declared}; nothing is installed from it`;
  return undefined;
}
