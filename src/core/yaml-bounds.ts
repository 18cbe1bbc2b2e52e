import { type Document, type Node, isAlias, isMap, isPair, isScalar, isSeq } from 'yaml';

/**
 * Nodes a YAML document may expand to. `maxAliasCount` bounds how many aliases a document has, not what they
 * expand to: `a: &a {50,000 keys}` and 99 keys `*a` is 5 million nodes from 590 KB, and expanding it froze the
 * daemon for minutes. A file within the loader's size limit and without aliases has far fewer nodes than this
 * (every node takes at least two bytes), so only an expansion through aliases can reach it.
 */
export const MAX_EXPANDED_NODES = 1_000_000;

/**
 * How many nodes `doc` expands to, counting an alias as the node it points at, computed without expanding
 * anything: each node is sized once (memoised), so the walk is linear in the document, and it stops counting
 * past `limit` (the result is then `limit + 1`). An alias that points at one of its own ancestors counts as 1.
 */
export function expandedSize(doc: Document, limit = MAX_EXPANDED_NODES): number {
  const memo = new Map<unknown, number>();
  const size = (node: unknown): number => {
    if (node === null || node === undefined) return 1;
    const known = memo.get(node);
    if (known !== undefined) return known;
    memo.set(node, 1); // in progress: a cycle through an alias counts once
    let n = 1;
    if (isAlias(node)) n = size(node.resolve(doc));
    else if (isMap(node) || isSeq(node)) {
      for (const item of node.items as unknown[]) {
        n += isPair(item) ? size(item.key) + size(item.value) : size(item);
        if (n > limit) break;
      }
    }
    n = Math.min(n, limit + 1);
    memo.set(node, n);
    return n;
  };
  return size(doc.contents as Node | null);
}

/**
 * The keys that repeat an earlier key of the same mapping, in document order, found in one pass with a set per
 * mapping. The `yaml` library's own `uniqueKeys` check compares each key with every earlier one, which is
 * quadratic: a flat 50,000-key mapping took it 28 s, so parsers here turn it off and ask this instead.
 * Scalar keys compare by value (as the library does); the merge key `<<` may repeat; aliases are not followed.
 */
export function duplicateKeys(doc: Document): Node[] {
  const out: Node[] = [];
  const seen = new Set<unknown>();
  const walk = (node: unknown): void => {
    if (!node || seen.has(node) || isAlias(node)) return;
    seen.add(node);
    if (isMap(node)) {
      const keys = new Set<unknown>();
      for (const pair of node.items) {
        const key = pair.key as Node | null;
        const value = isScalar(key) ? key.value : key;
        if (keys.has(value) && value !== '<<') out.push(key as Node);
        keys.add(value);
        walk(pair.key);
        walk(pair.value);
      }
    } else if (isSeq(node)) for (const item of node.items) walk(item);
  };
  walk(doc.contents);
  return out;
}
