import type { YamlListItems } from '../core/merge-yaml.js';
import type { HostIntent } from '../core/model.js';
import { redactText } from '../core/redact.js';
import { exits } from './args.js';
import { type SelectionOptions, loadIntents, selectionCommand } from './desired-intents.js';
import { printable } from './printable.js';

/** One rendered file as `hostop render -o json` prints it. */
export interface RenderedFile {
  host: string;
  kind: string;
  name: string;
  path: string;
  mode: string;
  owner: string;
  group: string;
  /** Masked as `plan` masks it, unless --show-secrets. */
  content: string;
  merge?: YamlListItems[];
}

/** `hostop render`: every file hostop would write, per host, with no SSH (what `helm template` is to Helm). */
export const renderCommand = selectionCommand(
  'render',
  'Prints every file hostop would write on each selected host, without connecting to any host (what helm ' +
    'template is to a chart). Each file comes with its path, mode, owner:group and resource, then its exact ' +
    'content; secret values are masked as plan masks them unless --show-secrets is given. Services, checks and ' +
    'pruning need the hosts themselves: see hostop plan.',
)
  .option('--show-secrets', 'print secret values in clear instead of *** (the output then holds credentials)')
  .addHelpText(
    'after',
    `
Addresses rendered into files (a collector endpoint) come from the Host
resources: pass the same --inventory as plan and apply to see what they
would write.

Exit codes: 0 rendered; 1 invalid desired state (every problem printed as
validate prints it), an unknown --hosts name or another usage error.`,
  )
  .action(
    exits(async (dir: string, opts: SelectionOptions & { showSecrets?: boolean }) => {
      const desired = await loadIntents(dir, opts, 'nothing was rendered');
      if (!desired) return 1;
      const files = renderedFiles(desired.intents, opts.showSecrets === true);
      if (opts.output === 'json') process.stdout.write(`${JSON.stringify(files, null, 2)}\n`);
      else process.stdout.write(formatRendered(desired.intents, files));
      return 0;
    }),
  );

function renderedFiles(intents: HostIntent[], showSecrets: boolean): RenderedFile[] {
  return intents.flatMap((i) =>
    i.files.map((f) => ({
      host: i.host.name,
      kind: f.resource.kind,
      name: f.resource.name,
      path: f.path,
      mode: f.mode,
      owner: f.owner,
      group: f.group,
      // The same masking as plan's diffs: known secret values and credential-shaped text become ***
      // (a whole-file secret, File.secret, is *** as a whole).
      content: showSecrets ? f.content : redactText(f.content, f.secrets),
      // A file hostop only adds to: its content depends on the host's copy, so what is added is shown instead.
      ...(f.merge && { merge: f.merge }),
    })),
  );
}

/**
 * Text for people: a line per host, then per file a `==> path <==` header (as `head` prints between files)
 * with mode, owner:group and resource, then the content as it would be written.
 */
function formatRendered(intents: HostIntent[], files: RenderedFile[]): string {
  const out: string[] = [];
  for (const i of intents) {
    const own = files.filter((f) => f.host === i.host.name);
    out.push(
      `host ${i.host.name}: ${own.length === 0 ? 'no files' : own.length === 1 ? '1 file' : `${own.length} files`}`,
      '',
    );
    for (const f of own) {
      if (f.merge) {
        out.push(`==> ${f.path} <==  (the host's file)  ${f.kind}/${f.name}`);
        for (const m of f.merge) out.push(`hostop adds to ${m.path.join('.')}: ${JSON.stringify(m.items)}`);
        out.push('');
        continue;
      }
      out.push(`==> ${f.path} <==  ${f.mode} ${f.owner}:${f.group}  ${f.kind}/${f.name}`);
      // A desired-state file under review may be hostile too: its bytes do not reach the terminal raw.
      out.push(printable(body(f.content)), '');
    }
  }
  if (out.at(-1) === '') out.pop();
  return `${out.join('\n')}\n`;
}

/** The content as lines end to end; what a text dump cannot show by itself is said as `diff` says it. */
function body(content: string): string {
  if (content === '') return '\\ Empty file';
  return content.endsWith('\n') ? content.slice(0, -1) : `${content}\n\\ No newline at end of file`;
}
