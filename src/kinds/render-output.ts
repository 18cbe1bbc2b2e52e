import { stringify } from 'yaml';
import type { Resource } from '../core/model.js';

/**
 * Deterministic serialisation for rendered config files: two-space indentation, no line folding, no anchors,
 * a trailing newline. Rendering the same value twice gives the same bytes.
 *
 * YAML is written with YAML 1.1 quoting rules because its readers here (Prometheus, Tempo, Grafana, the
 * collector) are Go programs whose YAML libraries still read `on`, `yes` or `n` as booleans: such strings
 * come out quoted.
 */
export function toYaml(value: unknown, header?: string): string {
  const body = stringify(value, {
    version: '1.1',
    indent: 2,
    lineWidth: 0,
    minContentWidth: 0,
    aliasDuplicateObjects: false,
    // Quoted strings are always double-quoted, escaped as in JSON: that is the form secretForms() predicts.
    singleQuote: false,
  });
  return header ? `${header}${body}` : body;
}

/** Two-space JSON with every object's keys sorted (so input key order never shows up as drift). */
export function toJson(value: unknown): string {
  return `${JSON.stringify(sortKeysDeep(value), null, 2)}\n`;
}

/**
 * A copy with the keys of every nested object sorted by JavaScript's `<` (UTF-16 code units); arrays keep their
 * order. Integer-like keys (`"2"`, `"10"`, as in Grafana value mappings) still come first in numeric order, as
 * JavaScript orders an object's own keys. Neither safe-stable-stringify (`"10"` before `"2"`) nor the yaml
 * library's `sortMapEntries` (every mapping of the file, not only these) gives the same bytes.
 */
export function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return Object.fromEntries(entries.map(([k, v]) => [k, sortKeysDeep(v)]));
  }
  return value;
}

/**
 * The first line of every rendered file whose format has comments, so a person who opens it on the host knows
 * where it comes from. Only kind and name: a moved desired-state file must not change the bytes.
 */
export function managedHeader(resource: Resource<unknown>, commentPrefix: '#' | ';' | '//'): string {
  return `${commentPrefix} Managed by hostop (${resource.kind}/${resource.metadata.name}); local edits are reverted.\n`;
}

/**
 * The forms in which secret values can appear in a rendered file: verbatim, escaped as inside a JSON or YAML
 * double-quoted string (`\"`, `\\`), and, for a multi-line value (a TLS key), each of its lines: YAML writes
 * such a value as a block scalar, one indented line per line, so the whole value never appears in one piece.
 * Lines shorter than 8 characters are not taken alone (they would mask every `}`). Sorted and unique; empty
 * values are not secrets.
 */
export function secretForms(values: string[]): string[] {
  const forms = values
    .filter((v) => v.length > 0)
    .flatMap((v) => [
      v,
      JSON.stringify(v).slice(1, -1),
      ...(v.includes('\n')
        ? v
            .split('\n')
            .map((l) => l.trim())
            .filter((l) => l.length >= 8)
        : []),
    ]);
  return [...new Set(forms)].sort();
}
