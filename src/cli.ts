import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { UsageError } from './cli/args.js';
import { completionCommands } from './cli/completion.js';
import { explainCommand } from './cli/explain-command.js';
import { applyCommand, planCommand } from './cli/fleet-commands.js';
import { renderCommand } from './cli/render-command.js';
import { runCommand } from './cli/run-command.js';
import { statusCommand } from './cli/status-command.js';
import { validateCommand } from './cli/validate-command.js';
import { describeError } from './core/errors.js';
import { kindSchemas } from './source/crds.js';
import { loadDesiredState } from './source/load.js';

/**
 * Composition root of the command line: one command per file under src/cli/. `program.commands` (each with its
 * `options`) is the command table: --help is generated from it.
 */
const program = new Command('hostop')
  .description(
    'hostop: a Kubernetes-style operator for bare hosts. Commit desired state; the fleet converges over SSH.',
  )
  .usage('<command> [options]')
  .version(`hostop ${packageVersion()}`)
  .addHelpText('after', "\nRun 'hostop <command> --help' for a command's options.")
  // Errors are thrown, not printed, and main() prints them with the usage of the command that failed.
  .exitOverride()
  .configureOutput({ outputError: () => {} })
  .on('command:*', ([name]: string[]) => {
    throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  });
for (const cmd of [
  validateCommand,
  renderCommand,
  planCommand,
  applyCommand,
  runCommand,
  statusCommand,
  explainCommand,
  ...completionCommands(() => program, {
    kinds: () => [...kindSchemas().keys()].sort(),
    hosts: (dir, inventory) => loadDesiredState(dir, { inventory }).snapshot?.hosts.map((h) => h.name) ?? [],
  }),
])
  program.addCommand(cmd.copyInheritedSettings(program).summary(cmd.description().split('. ')[0]!), {
    hidden: cmd.name().startsWith('_'),
  });

async function main(argv: string[]): Promise<number> {
  const cmd = program.commands.find((c) => c.name() === argv[0]) ?? program;
  const name = cmd === program ? 'hostop' : `hostop ${cmd.name()}`;
  try {
    await program.parseAsync(argv[0] === 'version' ? ['--version'] : argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (e) {
    // --help and --version end with exit code 0; a bare `hostop` has printed the help and ends with 1.
    if (e instanceof CommanderError && /^commander\.(help|version)/.test(e.code)) return e.exitCode;
    if (e instanceof UsageError || e instanceof CommanderError) {
      // Commander says "error: unknown option '--x'"; hostop has always said "Unknown option '--x'".
      const message = e.message.replace(/^error: (.)/, (_, c: string) => c.toUpperCase());
      process.stderr.write(`${name}: ${message}\n\n`);
      cmd.outputHelp({ error: true });
      return 1;
    }
    process.stderr.write(`${name}: ${describeError(e)}\n`);
    if (process.env.HOSTOP_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    return 1;
  }
}

// A reader that stops early (`hostop render | head`, quitting `less`) closes the pipe: that is not an error,
// and without this handler Node reports it as an unhandled 'error' event with a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(process.exitCode ?? 0);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`hostop: ${describeError(e)}\n`);
    process.exitCode = 1;
  },
);

/** The version of the package this CLI came with (`src/` and `dist/` sit beside package.json). */
function packageVersion(): string {
  return (
    JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
}
