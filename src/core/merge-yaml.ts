import { isMap, isSeq, parseDocument } from 'yaml';
import { duplicateKeys } from './yaml-bounds.js';

export const MAX_MERGED_YAML_BYTES = 128 * 1024;

/** Items hostop owns in a YAML list of a file that otherwise belongs to someone else. */
export interface YamlListItems {
  /** Keys from the document root to the list, e.g. ['litellm_settings', 'callbacks']. */
  path: string[];
  items: string[];
}

/**
 * Pure: `current` with every owned item present in its list, everything else (other keys, other items,
 * comments, flow or block style) kept; byte-identical when nothing is missing. A missing list (or its parent
 * maps) is created. Refuses, as a value, a file that is not YAML, whose root is not a mapping, or where the
 * path leads to something that is not a list. Aliases in the host's file are never expanded: only the target
 * list's own items are read.
 */
export function mergeListItems(
  current: string,
  wanted: YamlListItems[],
): { content: string } | { problem: string } {
  // Parsed on the event loop: bounded like a compared file (diff.ts MAX_SEMANTIC_YAML_BYTES).
  if (Buffer.byteLength(current) > MAX_MERGED_YAML_BYTES)
    return {
      problem: `larger than ${MAX_MERGED_YAML_BYTES / 1024} KiB, more than hostop parses to add to a file`,
    };
  const doc = parseDocument(current, { uniqueKeys: false, prettyErrors: false });
  if (doc.errors.length > 0) return { problem: `not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}` };
  if (duplicateKeys(doc).length > 0) return { problem: 'not valid YAML: Map keys must be unique' };
  if (doc.contents === null) doc.contents = doc.createNode({}) as unknown as typeof doc.contents;
  if (!isMap(doc.contents)) return { problem: 'its top level is not a mapping' };
  let changed = false;
  for (const { path, items } of wanted) {
    const node = doc.getIn(path, true);
    if (node === undefined || node === null || (isScalarNull(node) && !isSeq(node))) {
      doc.setIn(path, doc.createNode([...items], { flow: true }));
      changed = true;
      continue;
    }
    if (!isSeq(node)) return { problem: `${path.join('.')} is not a list` };
    const have = new Set(node.items.map((i) => String((i as { value?: unknown })?.value ?? i)));
    for (const item of items) {
      if (have.has(item)) continue;
      node.add(doc.createNode(item));
      changed = true;
    }
  }
  return { content: changed ? doc.toString({ lineWidth: 0 }) : current };
}

/** `key:` with no value parses as a null scalar: treat it as an absent list. */
function isScalarNull(node: unknown): boolean {
  return (
    typeof node === 'object' &&
    node !== null &&
    'value' in node &&
    (node as { value: unknown }).value === null
  );
}
