import { HostopError } from '../core/errors.js';

/**
 * An argument cannot be expressed as a POSIX sh word. Only NUL bytes are refused: the shell
 * (and every C program's argv) would silently truncate the string there, so the command would
 * not be the one the caller built.
 */
export class UnquotableArgumentError extends HostopError {
  constructor(message: string) {
    super('UnquotableArgument', message, false);
  }
}

// Words made only of these characters mean the same to sh quoted or not; leaving them bare
// keeps scripts readable in logs. `=` is excluded (a bare `A=b` in command position is an
// assignment) and so are reserved words (a bare `if` in command position is syntax).
const SAFE_WORD = /^[A-Za-z0-9_@%+:,./-]+$/;
const RESERVED = new Set([
  'case',
  'do',
  'done',
  'elif',
  'else',
  'esac',
  'fi',
  'for',
  'if',
  'in',
  'then',
  'until',
  'while',
]);

/**
 * The one function that turns a string into a POSIX sh word that the shell reads back as exactly
 * that string: no expansion, no splitting, no globbing. Throws UnquotableArgumentError for NUL.
 * A leading dash stays a leading dash: the command must be told where options end (`--`).
 */
export function quoteArg(s: string): string {
  if (s.includes('\0')) {
    throw new UnquotableArgumentError(`argument contains a NUL byte: ${JSON.stringify(s.slice(0, 80))}`);
  }
  if (SAFE_WORD.test(s) && !RESERVED.has(s)) return s;
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** An argv as one command line of sh words separated by spaces. Throws like quoteArg. */
export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new UnquotableArgumentError('empty argv');
  return argv.map(quoteArg).join(' ');
}
