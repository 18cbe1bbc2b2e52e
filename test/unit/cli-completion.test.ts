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
describe('the bash completion script', { timeout: 120_000 }, () => {
  it('completes a partial command line in a real bash, through the built CLI', () => {
    if (spawnSync('bash', ['--version']).status !== 0) throw new Error('bash is needed for this test');
    const bin = tempDir('hostop-completion-');
    writeFileSync(join(bin, 'hostop'), `#!/bin/sh\nexec node ${JSON.stringify(HOSTOP_BIN)} "$@"\n`);
    chmodSync(join(bin, 'hostop'), 0o755);
    const script = join(bin, 'hostop.bash');
    writeFileSync(script, completionScript('bash'));
    const ask = (line: string) => {
      const words = line.split(' ');
      return execFileSync(
        'bash',
        [
          '-c',
          `source "$1"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _hostop; printf '%s\\n' "\${COMPREPLY[@]}"`,
          'bash',
          script,
        ],
        { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } },
      )
        .split('\n')
        .filter(Boolean);
    };
    expect(ask('hostop ex')).toEqual(['explain']);
    expect(ask('hostop run --mode d')).toEqual(['detect']);
    expect(ask('hostop plan desired-state --hosts agent-1')).toEqual(['agent-10']);
    expect(ask('hostop explain Graf')).toEqual(['GrafanaDashboard', 'GrafanaDatasource']);
  });
});
