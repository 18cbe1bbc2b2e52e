import { Command, Option } from 'commander';
import ms from 'ms';

/** A command-line mistake: printed with the command's usage, exit code 1. */
export class UsageError extends Error {}

/** `hostop NAME [DIR] [options]`: a command that reads a desired-state directory (and an inventory). */
export function dirCommand(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .usage('[DIR] [options]')
    .argument('[DIR]', 'desired-state directory', 'desired-state')
    .option('--inventory <FILE>', 'Host resources that replace same-named hosts (e.g. .lab/hosts.yaml)');
}

/** A command's action whose result is hostop's exit code (commander itself ignores what an action returns). */
export function exits<A extends unknown[]>(run: (...args: A) => Promise<number>) {
  return async (...args: A) => {
    process.exitCode = await run(...args);
  };
}

export const outputOption = () =>
  new Option('-o, --output <FMT>', 'output format').choices(['text', 'json']).default('text');

/** An option whose value is a duration, in milliseconds; `fallback` is its default as --help prints it. */
export function durationOption(flags: string, description: string, fallback?: string): Option {
  const option = new Option(flags, description);
  const parse = (text: string) => parseDuration(text, option.long!);
  return option.argParser(parse).default(fallback && parse(fallback), fallback);
}

export function positiveIntOption(flags: string, description: string, fallback?: number): Option {
  const option = new Option(flags, description);
  return option.argParser((text: string) => parsePositiveInt(text, option.long!)).default(fallback);
}

/** Parses "30s", "5m", "500ms", "1h" (or any other unit `ms` knows) or plain seconds into milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const t = text.trim();
  // `ms` reads a bare number as milliseconds; on hostop's command line it has always meant seconds.
  const n = t && ms((/^\d*\.?\d+$/.test(t) ? `${t}s` : t) as ms.StringValue);
  if (!(typeof n === 'number' && n >= 0))
    throw new UsageError(`${flag}: ${JSON.stringify(text)} is not a duration (e.g. 30s, 5m, 500ms)`);
  return Math.round(n);
}

export function parsePositiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag}: expected a positive integer, got ${JSON.stringify(text)}`);
  return n;
}
