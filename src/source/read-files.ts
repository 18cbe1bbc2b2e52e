import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import type { SourceFile } from '../core/model.js';

/** One desired-state file as read from disk; `text` is undefined when the file was refused (`refused` says why). */
export type { SourceFile };

/** A file larger than this is refused: desired state is config, not data (and it bounds parser memory). */
export const MAX_FILE_BYTES = 1024 * 1024;

const IGNORED_DIRS = new Set(['.git', 'node_modules']);

/**
 * Reads every `*.yaml` / `*.yml` under `root` (recursively, sorted, symlinks not followed, hidden files and
 * editor temp files skipped). Never throws for bad content: oversize and binary files come back `refused`.
 * Throws only when `root` itself cannot be read (the caller reports that as one problem).
 */
export function readDesiredStateFiles(root: string): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.') || name.endsWith('~') || IGNORED_DIRS.has(name)) continue;
      const full = join(dir, name);
      const st = lstatSync(full);
      if (st.isDirectory()) walk(full);
      else if (st.isFile() && /\.ya?ml$/.test(name)) out.push(readOne(full, full, st.size));
    }
  };
  if (lstatSync(root).isFile()) return [readOne(root, root, lstatSync(root).size)];
  walk(root);
  return out;
}

function readOne(full: string, file: string, size: number): SourceFile {
  if (size > MAX_FILE_BYTES) {
    return {
      file,
      refused: `file is ${size} bytes, over the ${MAX_FILE_BYTES}-byte limit for a desired-state file`,
    };
  }
  const buf = readFileSync(full);
  if (buf.includes(0))
    return { file, refused: 'file contains NUL bytes: binary files are not desired state' };
  const text = buf.toString('utf8');
  if (text.includes('\uFFFD')) return { file, refused: 'file is not valid UTF-8' };
  return { file, text };
}
