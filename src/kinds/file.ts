import type { FileIntent, IntentPart, Resource } from '../core/model.js';
import type { FileSpec } from '../generated/crd-types.js';
import type { KindModule } from './kind.js';
import { unitName } from './unit-name.js';

/** Without an explicit format, the extension says how to compare the file semantically. */
function formatOf(spec: FileSpec): FileIntent['format'] {
  if (spec.format) return spec.format;
  if (spec.path.endsWith('.json')) return 'json';
  if (/\.ya?ml$/.test(spec.path)) return 'yaml';
  return 'text';
}

function render(res: Resource<FileSpec>): IntentPart {
  const spec = res.spec;
  return {
    files: [
      {
        path: spec.path,
        content: spec.content,
        mode: spec.mode,
        owner: spec.owner,
        group: spec.group,
        format: formatOf(spec),
        ...(spec.validate
          ? { validate: { argv: spec.validate.argv, timeoutMs: spec.validate.timeoutSeconds * 1000 } }
          : {}),
        notify: (spec.notify ?? []).map(unitName),
        secrets: spec.secret && spec.content.length > 0 ? [spec.content] : [],
        resource: { kind: res.kind, name: res.metadata.name },
      },
    ],
  };
}

function validate(res: Resource<FileSpec>): { path: string; message: string }[] {
  const argv = res.spec.validate?.argv;
  if (argv && !argv.some((a) => a.includes('{}'))) {
    return [
      {
        path: '/spec/validate/argv',
        message: 'no argument contains {} (the candidate file): the command would not check it',
      },
    ];
  }
  return [];
}

export const file: KindModule<FileSpec> = { kind: 'File', render, validate };
