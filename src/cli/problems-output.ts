import type { Problem } from '../core/model.js';

/** `file:line: error: message (at /json/path)` — the shape editors and CI logs can jump to. */
export function formatProblem(p: Problem): string {
  const where = p.line ? `${p.file}:${p.line}` : p.file;
  const path = p.path ? ` (at ${p.path})` : '';
  return `${where}: ${p.severity}: ${p.message}${path}`;
}
