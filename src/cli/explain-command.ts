import { Command } from 'commander';
import { DesiredStateError } from '../core/errors.js';
import { explain } from '../core/explain.js';
import { kindSchemas } from '../source/crds.js';
import { exits } from './args.js';

/** `hostop explain KIND[.field.path]`: the CRDs' documentation of a kind or field, like `kubectl explain`. */
export const explainCommand = new Command('explain')
  .description(
    "Describes a kind or one of its fields from hostop's CRDs: type, description, default, allowed values and " +
      'fields, like kubectl explain. Examples: hostop explain File; hostop explain File.spec.mode; ' +
      'hostop explain OtelCollector --recursive.',
  )
  .usage('KIND[.field.path] [options]')
  .argument('<KIND[.field.path]>', 'a kind (File, OtelCollector, ...), optionally followed by a field path')
  .option('--recursive', 'print every field below, as a tree of names and types')
  .addHelpText('after', '\nExit codes: 0 described, 1 unknown kind or field.')
  .action(
    exits(async (target: string, opts: { recursive?: boolean }) => {
      try {
        process.stdout.write(explain(kindSchemas(), target, opts.recursive ?? false));
        return 0;
      } catch (e) {
        if (!(e instanceof DesiredStateError)) throw e;
        process.stderr.write(`hostop explain: ${e.message}\n`);
        return 1;
      }
    }),
  );
