import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { completionScript, completions } from '../../src/cli/completion.js';
import { HOSTOP_BIN } from '../support/fleet.js';
import { tempDir } from '../support/temp.js';

// Completion: the pure candidate logic on a small command table, then the bash script sourced in a real bash
// that asks the built CLI (`hostop __complete`) on the reference fleet.

const program = new Command('hostop');
program.addCommand(
  new Command('plan')
    .argument('[DIR]')
    .option('--hosts <a,b>')
    .option('--inventory <F>')
    .option('--no-color'),
);
program.addCommand(
  new Command('run').argument('[DIR]').addOption(new Option('--mode <M>').choices(['enforce', 'detect'])),
);
program.addCommand(new Command('explain').argument('<KIND>'));
program.addCommand(new Command('__complete'));
const sources = {
  kinds: () => ['File', 'OtelCollector', 'Service'],
  hosts: (dir: string) => (dir === 'fleet' ? ['web-01', 'web-02', 'db-01'] : ['x-01']),
};
const complete = (...words: string[]) => completions(program, words, sources);

describe('completions', () => {
  it('offers commands (not the hidden ones), then flags, then flag choices', () => {
    expect(complete('')).toEqual(['plan', 'run', 'explain']);
    expect(complete('pl')).toEqual(['plan']);
    expect(complete('plan', '--')).toEqual(['--hosts', '--inventory', '--no-color']);
    expect(complete('run', '--mode', '')).toEqual(['enforce', 'detect']);
    expect(complete('run', '--mode', 'd')).toEqual(['detect']);
  });

  it('offers the host names of the directory given, after the last comma, without those already listed', () => {
    expect(complete('plan', 'fleet', '--hosts', 'web')).toEqual(['web-01', 'web-02']);
    expect(complete('plan', '--hosts', 'web-01,', 'fleet')).toEqual([]);
    expect(complete('plan', 'fleet', '--hosts', 'web-01,')).toEqual(['web-01,web-02', 'web-01,db-01']);
    expect(complete('plan', '--hosts', '')).toEqual(['x-01']); // DIR defaults to desired-state
  });

  it('offers kinds to explain, and nothing (file names, by the shell) elsewhere', () => {
    expect(complete('explain', 'O')).toEqual(['OtelCollector']);
    expect(complete('plan', 'des')).toEqual([]);
    expect(complete('nope', '')).toEqual([]);
  });
});

// Each completion runs the CLI (node start-up, loading the desired state): generous on a loaded machine.
/** A directory with `hostop` on it (the built CLI) and the script of `shell` written beside it. */
function install(shell: 'bash' | 'zsh') {
  if (spawnSync(shell, ['--version']).status !== 0)
    throw new Error(`${shell} is needed for this test (npm test installs it)`);
  const bin = tempDir('hostop-completion-');
  writeFileSync(join(bin, 'hostop'), `#!/bin/sh\nexec node ${JSON.stringify(HOSTOP_BIN)} "$@"\n`);
  chmodSync(join(bin, 'hostop'), 0o755);
  const script = join(bin, `hostop.${shell}`);
  writeFileSync(script, completionScript(shell));
  const run = (code: string) =>
    execFileSync(shell, ['-c', code, shell, script], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    })
      .split('\n')
      .filter(Boolean);
  return run;
}

const quoted = (line: string) =>
  line
    .split(' ')
    .map((w) => `'${w}'`)
    .join(' ');

// Each completion runs the CLI (node start-up, loading the desired state): generous on a loaded machine.
describe('the completion scripts in a real shell, through the built CLI', { timeout: 120_000 }, () => {
  it('bash: COMPREPLY for a partial command line', () => {
    const run = install('bash');
    const ask = (line: string) =>
      run(
        `source "$1"; COMP_WORDS=(${quoted(line)}); COMP_CWORD=${line.split(' ').length - 1}; _hostop; printf '%s\\n' "\${COMPREPLY[@]}"`,
      );
    expect(ask('hostop ex')).toEqual(['explain']);
    expect(ask('hostop run --mode d')).toEqual(['detect']);
    expect(ask('hostop plan desired-state --hosts agent-1')).toEqual(['agent-10']);
    expect(ask('hostop explain Graf')).toEqual(['GrafanaDashboard', 'GrafanaDatasource']);
  });

  it('zsh: the candidates given to compadd, and file names when there are none', () => {
    const run = install('zsh');
    // compadd, _files and compdef belong to zsh's completion system, which needs a terminal: stand-ins print
    // what they are given (compadd is called as `compadd -S '' -- CANDIDATES`).
    const ask = (line: string) =>
      run(
        `compdef() { :; }; compadd() { shift 3; print -l -- "$@"; }; _files() { print FILES; }; source "$1"; words=(${quoted(line)}); CURRENT=${line.split(' ').length}; _hostop`,
      );
    expect(ask('hostop ex')).toEqual(['explain']);
    expect(ask('hostop run --mode d')).toEqual(['detect']);
    expect(ask('hostop plan desired-state --hosts agent-1')).toEqual(['agent-10']);
    expect(ask('hostop plan des')).toEqual(['FILES']);
  });
});
