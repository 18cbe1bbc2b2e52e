import { readFileSync } from 'node:fs';
import { type CommandSpec, UsageError, commandHelp, parseCommandArgs } from './cli/args.js';
import { applyCommand, planCommand } from './cli/fleet-commands.js';
import { renderCommand } from './cli/render-command.js';
import { runCommand } from './cli/run-command.js';
import { statusCommand } from './cli/status-command.js';
import { validateCommand } from './cli/validate-command.js';
import { describeError } from './core/errors.js';

/** Composition root of the command line: one entry per command, each in its own file under src/cli/. */
const commands: CommandSpec[] = [
  validateCommand,
  renderCommand,
  planCommand,
  applyCommand,
  runCommand,
  statusCommand,
];

function mainHelp(): string {
  const lines = [
    'hostop: a Kubernetes-style operator for bare hosts. Commit desired state; the fleet converges over SSH.',
    '',
    'Usage: hostop <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary.split('. ')[0]}`),
    '',
    "Run 'hostop <command> --help' for a command's options.",
  ];
  return `${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp());
    return name ? 0 : 1;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write(`hostop ${packageVersion()}\n`);
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`hostop: unknown command ${JSON.stringify(name)}\n\n${mainHelp()}`);
    return 1;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(commandHelp(cmd));
    return 0;
  }
  try {
    const { values, positionals } = parseCommandArgs(cmd, rest);
    return await cmd.run(values, positionals);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`hostop ${cmd.name}: ${e.message}\n\n${commandHelp(cmd)}`);
      return 1;
    }
    process.stderr.write(`hostop ${cmd.name}: ${describeError(e)}\n`);
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
