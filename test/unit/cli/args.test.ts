import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import {
  UsageError,
  durationOption,
  parseDuration,
  parsePositiveInt,
  positiveIntOption,
} from '../../../src/cli/args.js';
import { applyCommand, planCommand } from '../../../src/cli/fleet-commands.js';
import { renderCommand } from '../../../src/cli/render-command.js';
import { runCommand } from '../../../src/cli/run-command.js';
import { statusCommand } from '../../../src/cli/status-command.js';
import { validateCommand } from '../../../src/cli/validate-command.js';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['500ms', 500],
    ['1h', 3_600_000],
    ['1.5s', 1500],
    ['0.5m', 30_000],
    ['0s', 0],
    [' 10s ', 10_000],
  ])('%j is %d ms', (text, expected) => expect(parseDuration(text, '--resync')).toBe(expected));

  it.each([
    ['30', 30_000],
    ['1.5', 1500],
    ['0', 0],
  ])('a plain number %j means seconds: %d ms', (text, expected) =>
    expect(parseDuration(text, '--resync')).toBe(expected),
  );

  it.each(['-5s', '-1', 'abc', '', ' ', '5x', '1e3', '10s5', 's', 'Infinity'])(
    'rejects %j, naming the flag',
    (text) => {
      expect(() => parseDuration(text, '--resync')).toThrow(UsageError);
      expect(() => parseDuration(text, '--resync')).toThrow(
        `--resync: ${JSON.stringify(text)} is not a duration (e.g. 30s, 5m, 500ms)`,
      );
    },
  );
});

describe('parsePositiveInt', () => {
  it('takes a positive integer', () => expect(parsePositiveInt('32', '--max-parallel')).toBe(32));
  it.each(['0', '-1', '1.5', 'x', ''])('rejects %j, naming the flag', (text) =>
    expect(() => parsePositiveInt(text, '--max-parallel')).toThrow(
      `--max-parallel: expected a positive integer, got ${JSON.stringify(text)}`,
    ),
  );
});

describe('options with a parsed value', () => {
  const cmd = () =>
    new Command('x')
      .exitOverride()
      .addOption(durationOption('--resync <D>', 'how often', '60s'))
      .addOption(durationOption('--git-pull <D>', 'how often'))
      .addOption(positiveIntOption('--concurrency <N>', 'how many', 32));

  it('defaults are parsed as given values are, and --help shows them as written', () => {
    const c = cmd().parse([], { from: 'user' });
    expect(c.opts()).toEqual({ resync: 60_000, gitPull: undefined, concurrency: 32 });
    expect(c.helpInformation()).toContain('(default: 60s)');
    const given = cmd().parse(['--resync', '5m', '--git-pull', '30', '--concurrency', '4'], { from: 'user' });
    expect(given.opts()).toEqual({ resync: 300_000, gitPull: 30_000, concurrency: 4 });
  });

  it('a bad value is a UsageError naming the flag', () => {
    expect(() => cmd().parse(['--resync', 'soon'], { from: 'user' })).toThrow(
      '--resync: "soon" is not a duration',
    );
    expect(() => cmd().parse(['--concurrency', '0'], { from: 'user' })).toThrow(UsageError);
  });
});

describe('the command table', () => {
  const commands = [validateCommand, renderCommand, planCommand, applyCommand, runCommand, statusCommand];

  it('names every command and describes every option (what --help and shell completion are made of)', () => {
    expect(commands.map((c) => c.name())).toEqual(['validate', 'render', 'plan', 'apply', 'run', 'status']);
    for (const c of commands) {
      expect(c.description(), c.name()).not.toBe('');
      for (const o of c.options) expect(o.description, `${c.name()} ${o.flags}`).not.toBe('');
    }
    const flags = (c: Command) => c.options.map((o) => o.long);
    expect(flags(applyCommand)).toEqual([
      '--inventory',
      '--hosts',
      '--selector',
      '--output',
      '--no-prune',
      '--max-parallel',
      '--connect-timeout',
      '--no-color',
      '--max-failures',
      '--dry-run',
      '--yes',
    ]);
    expect(flags(runCommand)).toContain('--probe-timeout');
  });
});
