import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UnquotableArgumentError, quoteArg, quoteArgv } from '../../../src/ssh/quote.js';

/** What a real POSIX sh (dash here) reads each word back as: one `printf` for all, NUL-separated. */
function shellReadsBack(words: string[]): string[] {
  const out = execFileSync('sh', ['-c', `printf '%s\\0' ${words.map(quoteArg).join(' ')}`]);
  return out.toString('utf8').split('\0').slice(0, -1);
}

const CASES: [string, string, string][] = [
  ['plain word stays bare', 'config.yaml', 'config.yaml'],
  ['path stays bare', '/etc/otelcol-contrib/config.yaml', '/etc/otelcol-contrib/config.yaml'],
  ['empty string', '', "''"],
  ['space', 'a b', "'a b'"],
  ['single quote', "it's", "'it'\\''s'"],
  ['only quotes', "''", "''\\'''\\'''"],
  ['double quote', 'say "hi"', `'say "hi"'`],
  ['newline', 'a\nb', "'a\nb'"],
  ['command substitution', '$(touch /tmp/x)', "'$(touch /tmp/x)'"],
  ['backticks', '`id`', "'`id`'"],
  ['variable', '$HOME', "'$HOME'"],
  ['glob', '*.conf', "'*.conf'"],
  ['semicolon and pipe', 'a; rm -rf / | b', "'a; rm -rf / | b'"],
  ['leading dash stays a word', '-rf', '-rf'],
  ['leading dash with space', '--opt=a b', "'--opt=a b'"],
  ['assignment-looking word is quoted', 'A=b', "'A=b'"],
  ['reserved word is quoted', 'if', "'if'"],
  ['tilde', '~root', "'~root'"],
  ['backslash', 'a\\nb', "'a\\nb'"],
  ['unicode', 'grüße ☃ 日本', "'grüße ☃ 日本'"],
  ['tab and CR', 'a\tb\rc', "'a\tb\rc'"],
];

describe('quoteArg', () => {
  it.each(CASES)('%s', (_name, input, quoted) => {
    expect(quoteArg(input)).toBe(quoted);
  });

  it('a real sh reads every table case back unchanged', () => {
    const inputs = CASES.map(([, input]) => input);
    expect(shellReadsBack(inputs)).toEqual(inputs);
  });

  it('a real sh reads arbitrary strings back unchanged (property)', () => {
    const word = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\0'));
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 30 }), (words) => {
        expect(shellReadsBack(words)).toEqual(words);
      }),
      { numRuns: 40 },
    );
  });

  it('refuses NUL with a typed error', () => {
    expect(() => quoteArg('a\0b')).toThrow(UnquotableArgumentError);
    try {
      quoteArg('a\0b');
    } catch (e) {
      expect((e as UnquotableArgumentError).code).toBe('UnquotableArgument');
      expect((e as UnquotableArgumentError).retryable).toBe(false);
    }
  });
});

describe('quoteArgv', () => {
  it('joins quoted words', () => {
    expect(quoteArgv(['systemctl', 'show', '--', "x'y.service"])).toBe("systemctl show -- 'x'\\''y.service'");
  });

  it('runs as exactly that argv in a real sh, nothing executed', () => {
    const argv = ['printf', '[%s]', '$(echo pwned)', '`echo pwned`', "a'b", 'c\nd'];
    expect(execFileSync('sh', ['-c', quoteArgv(argv)]).toString()).toBe(
      "[$(echo pwned)][`echo pwned`][a'b][c\nd]",
    );
  });

  it('refuses an empty argv and NUL in any word', () => {
    expect(() => quoteArgv([])).toThrow(UnquotableArgumentError);
    expect(() => quoteArgv(['echo', 'ok', '\0'])).toThrow(UnquotableArgumentError);
  });
});
