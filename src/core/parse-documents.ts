import { type Document, LineCounter, isNode, isScalar, parseAllDocuments } from 'yaml';
import type { Problem } from './model.js';
import { MAX_EXPANDED_NODES, duplicateKeys, expandedSize } from './yaml-bounds.js';

/** One YAML document of a desired-state file, with what is needed to name a line for any JSON path in it. */
export interface ParsedDocument {
  file: string;
  /** 1-based line where the document's content starts. */
  line: number;
  value: unknown;
  /** Line of the node at `path` (JSON pointer); the nearest existing ancestor when the node is absent. */
  lineOf(path: string): number;
}

/** YAML anchors/aliases beyond this count are refused: a billion-laughs document would otherwise expand without bound. */
const MAX_ALIASES = 100;

/**
 * Parses a file into documents. Pure: bad input comes back as problems (syntax errors with line, alias bombs,
 * a file without any document); it never throws. Empty and comment-only documents (a trailing `---`, a
 * commented-out resource) are skipped, as kubectl, Helm, Kustomize and Flux skip them; a file holding nothing
 * else is still refused as empty.
 */
export function parseDocuments(file: string, text: string): { docs: ParsedDocument[]; problems: Problem[] } {
  const lc = new LineCounter();
  const problems: Problem[] = [];
  const docs: ParsedDocument[] = [];
  // uniqueKeys off: the library's check is quadratic in a mapping's size; duplicateKeys() is linear.
  const all = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: false, prettyErrors: false });
  const list = Array.isArray(all) ? all : [];
  for (const doc of list) {
    const start = doc.contents?.range?.[0] ?? doc.range[0];
    const line = lc.linePos(start).line;
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const at = lc.linePos(err.pos[0]).line;
        problems.push({
          severity: 'error',
          file,
          line: at,
          path: '',
          message: `YAML syntax error: ${firstLine(err.message)}`,
        });
      }
      continue;
    }
    if (isEmptyDocument(doc)) continue;
    const duplicates = duplicateKeys(doc);
    if (duplicates.length > 0) {
      for (const key of duplicates) {
        const at = key.range ? lc.linePos(key.range[0]).line : line;
        problems.push({
          severity: 'error',
          file,
          line: at,
          path: '',
          message: 'YAML syntax error: Map keys must be unique',
        });
      }
      continue;
    }
    if (expandedSize(doc) > MAX_EXPANDED_NODES) {
      problems.push({
        severity: 'error',
        file,
        line,
        path: '',
        message: `YAML aliases expand this document to more than ${MAX_EXPANDED_NODES} nodes: refusing a possible alias bomb`,
      });
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      const message = /alias/i.test(why)
        ? `too many YAML alias expansions (over ${MAX_ALIASES}): refusing a possible alias bomb`
        : `YAML could not be read: ${firstLine(why)}`;
      problems.push({ severity: 'error', file, line, path: '', message });
      continue;
    }
    docs.push({ file, line, value, lineOf: (path) => lineOfPath(doc, lc, path, line) });
  }
  if (list.length === 0 || (docs.length === 0 && problems.length === 0)) {
    problems.push({
      severity: 'error',
      file,
      line: 1,
      path: '',
      message: 'file holds no YAML document (empty file)',
    });
  }
  return { docs, problems };
}

/**
 * True for a document with no content at all: the `yaml` library gives it an implicit null scalar of zero
 * width. An explicit `null` or `~` has width, so it still reaches the "must be a mapping" check.
 */
function isEmptyDocument(doc: Document): boolean {
  const c = doc.contents;
  return c === null || (isScalar(c) && c.value === null && !!c.range && c.range[0] === c.range[1]);
}

function lineOfPath(doc: Document, lc: LineCounter, path: string, fallback: number): number {
  const segments = path
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  for (let n = segments.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(segments.slice(0, n), true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
  }
  return fallback;
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}
