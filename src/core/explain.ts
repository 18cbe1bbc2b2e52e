import { DesiredStateError } from './errors.js';
import type { KindSchema } from './schemas.js';

/** The parts of an OpenAPI v3 schema `hostop explain` shows. */
interface Schema {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  required?: string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  oneOf?: Schema[];
  anyOf?: Schema[];
}

/**
 * `hostop explain KIND[.field.path]` (pure), like `kubectl explain`: the kind's or field's type, description,
 * default, allowed values and fields, from the CRDs. `recursive` prints the whole tree of field names and types
 * below it. Kind names match case-insensitively (also the plural); a path through a list continues into its
 * items, through a map into its values. Throws DesiredStateError naming the first part that does not exist and
 * what exists there.
 */
export function explain(kinds: ReadonlyMap<string, KindSchema>, target: string, recursive = false): string {
  const [kindName, ...path] = target.split('.');
  const kind = [...kinds.values()].find(
    (k) => k.kind.toLowerCase() === kindName?.toLowerCase() || k.plural === kindName?.toLowerCase(),
  );
  if (!kind)
    throw new DesiredStateError(
      `unknown kind ${JSON.stringify(kindName)}; hostop has: ${[...kinds.keys()].sort().join(', ')}`,
    );
  let schema = kind.schema as Schema;
  const walked: string[] = [kind.kind];
  for (const field of path) {
    const fields = fieldsOf(schema);
    const next = fields?.[field];
    if (!next)
      throw new DesiredStateError(
        `${walked.join('.')} has no field ${JSON.stringify(field)}${
          fields ? `; its fields: ${Object.keys(fields).join(', ')}` : ` (it is ${typeName(schema)})`
        }`,
      );
    schema = next;
    walked.push(field);
  }
  const lines = [`KIND:     ${kind.kind}`, `VERSION:  ${kind.apiVersion}`, ''];
  if (path.length) lines.push(`FIELD:    ${path.at(-1)} <${typeName(schema)}>`, '');
  lines.push('DESCRIPTION:', ...wrap(schema.description ?? '(no description)', 4));
  const facts = factsOf(schema);
  if (facts.length) lines.push('', ...facts);
  const fields = fieldsOf(schema);
  if (fields) {
    lines.push('', 'FIELDS:');
    if (recursive) lines.push(...tree(schema, 3));
    else
      for (const [name, f] of Object.entries(fields)) {
        lines.push(`   ${name}\t<${typeName(f)}>${requiredIn(schema, name) ? ' -required-' : ''}`);
        lines.push(...wrap(f.description ?? '', 5));
        lines.push('');
      }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/** The fields below a schema: an object's properties, a list's items' properties, a map's values' properties. */
function fieldsOf(s: Schema): Record<string, Schema> | undefined {
  if (s.properties) return s.properties;
  if (s.items) return fieldsOf(s.items);
  if (typeof s.additionalProperties === 'object') return fieldsOf(s.additionalProperties);
  return undefined;
}

function requiredIn(parent: Schema, name: string): boolean {
  const holder = parent.properties ? parent : (parent.items ?? (parent.additionalProperties as Schema));
  return holder?.required?.includes(name) ?? false;
}

/** `string`, `integer`, `[]Object`, `map[string]string`, `Object` as kubectl writes them. */
function typeName(s: Schema): string {
  if (s.type === 'array') return `[]${s.items ? typeName(s.items) : 'any'}`;
  if (s.type === 'object' && typeof s.additionalProperties === 'object' && !s.properties)
    return `map[string]${typeName(s.additionalProperties)}`;
  if (s.type === 'object' || s.properties) return 'Object';
  if (s.oneOf || s.anyOf) return (s.oneOf ?? s.anyOf ?? []).map(typeName).join(' | ');
  return s.type ?? 'any';
}

function factsOf(s: Schema): string[] {
  const out: string[] = [];
  if (s.default !== undefined) out.push(`DEFAULT:  ${JSON.stringify(s.default)}`);
  if (s.enum) out.push(`ALLOWED:  ${s.enum.map((v) => JSON.stringify(v)).join(', ')}`);
  if (s.minimum !== undefined || s.maximum !== undefined)
    out.push(`RANGE:    ${s.minimum ?? '…'} to ${s.maximum ?? '…'}`);
  if (s.pattern) out.push(`PATTERN:  ${s.pattern}`);
  if (s.format && s.format !== 'password') out.push(`FORMAT:   ${s.format}`);
  if (s.format === 'password') out.push('SECRET:   masked in every output of hostop');
  const holder = s.properties ? s : s.items;
  if (holder?.required?.length) out.push(`REQUIRED: ${holder.required.join(', ')}`);
  return out;
}

function tree(s: Schema, indent: number): string[] {
  const out: string[] = [];
  for (const [name, f] of Object.entries(fieldsOf(s) ?? {})) {
    out.push(`${' '.repeat(indent)}${name}\t<${typeName(f)}>${requiredIn(s, name) ? ' -required-' : ''}`);
    out.push(...tree(f, indent + 3));
  }
  return out;
}

/** Words wrapped at 100 columns with `indent` spaces. */
function wrap(text: string, indent: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && indent + line.length + 1 + word.length > 100) {
      out.push(' '.repeat(indent) + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(' '.repeat(indent) + line);
  return out;
}
