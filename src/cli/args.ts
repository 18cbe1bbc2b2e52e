import { type ParseArgsConfig, parseArgs } from 'node:util';

/** A command-line mistake: printed with the command's usage, exit code 1. */
export class UsageError extends Error {}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** One line per option, for --help. */
  help: string[];
  run(values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

/** Parses argv for one command; unknown flags are a UsageError naming the flag. */
export function parseCommandArgs(
  cmd: CommandSpec,
  argv: string[],
): { values: Record<string, unknown>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: cmd.options,
      allowPositionals: true,
      strict: true,
    });
    return { values, positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function commandHelp(cmd: CommandSpec): string {
  return [`Usage: ${cmd.usage}`, '', cmd.summary, '', 'Options:', ...cmd.help.map((h) => `  ${h}`), ''].join(
    '\n',
  );
}

/** Parses "30s", "5m", "500ms", "1h" or plain seconds into milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag}: ${JSON.stringify(text)} is not a duration (e.g. 30s, 5m, 500ms)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}

export function parsePositiveInt(text: unknown, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag}: expected a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

export function outputFormat(value: unknown): 'text' | 'json' {
  if (value === undefined || value === 'text') return 'text';
  if (value === 'json') return 'json';
  throw new UsageError(`--output: expected text or json, got ${JSON.stringify(value)}`);
}
