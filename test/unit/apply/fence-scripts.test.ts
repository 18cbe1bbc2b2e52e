import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  fencePaths,
  parseRaiseFenceOutput,
  parseStageOutput,
  raiseFenceScript,
  stageScript,
} from '../../../src/apply/apply-scripts.js';
import { tempDir } from '../../support/temp.js';

/** The fence of several daemons (issue 17), run by the real /bin/sh on a real state directory. */
const sh = (script: string) => {
  const r = spawnSync('/bin/sh', ['-s'], { input: script, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout };
};

function setup() {
  const root = tempDir('hostop-fence-');
  const state = join(root, 'state');
  const target = join(root, 'etc', 'app.conf');
  const stage = (token: string, member: string) =>
    sh(
      stageScript([{ path: target, content: 'x\n', mode: '0644', owner: 'root', group: 'root' }], state, {
        token,
        member,
        op: 'stage',
      }),
    );
  return { state, target, stage, paths: fencePaths(state) };
}

describe('host fence', () => {
  it('raises the kept token and logs who came in, in order', () => {
    const { state, paths } = setup();
    const out = sh(raiseFenceScript(state, { token: '41', member: 'hostop-a', op: 'fence' }));
    expect(out.code).toBe(0);
    parseRaiseFenceOutput(out.stdout, 'h');
    expect(readFileSync(paths.token, 'utf8')).toBe('41\n');
    const again = sh(raiseFenceScript(state, { token: '1000000000007', member: 'hostop-b', op: 'fence' }));
    parseRaiseFenceOutput(again.stdout, 'h');
    expect(readFileSync(paths.token, 'utf8')).toBe('1000000000007\n');
    const log = readFileSync(paths.log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' ').slice(1));
    expect(log).toEqual([
      ['41', 'hostop-a', 'fence'],
      ['1000000000007', 'hostop-b', 'fence'],
    ]);
  });

  it('refuses a lower token before anything is written, and says so', () => {
    const { state, target, stage, paths } = setup();
    parseRaiseFenceOutput(sh(raiseFenceScript(state, { token: '90', member: 'b', op: 'fence' })).stdout, 'h');
    const late = stage('89', 'a');
    expect(late).toEqual({ code: 76, stdout: 'fenced 90\n' });
    expect(() => parseStageOutput(late.stdout, 1, 'h')).toThrow(
      /took this host over.*token 90.*nothing was changed/,
    );
    expect(existsSync(join(target, '..', '.app.conf.hostop-new'))).toBe(false);
    expect(readFileSync(paths.token, 'utf8')).toBe('90\n');
    expect(readFileSync(paths.log, 'utf8')).not.toMatch(/ 89 a /);
    // The owner's own token, and any later one, are let in.
    expect(parseStageOutput(stage('90', 'b').stdout, 1, 'h')[0]?.written).toBe(0);
    expect(stage('91', 'c').code).toBe(0);
    expect(stage('90', 'b').stdout).toBe('fenced 91\n');
  });

  it('treats a garbled fence file as no fence, and keeps the log bounded', () => {
    const { state, stage, paths } = setup();
    parseRaiseFenceOutput(sh(raiseFenceScript(state, { token: '5', member: 'a', op: 'fence' })).stdout, 'h');
    writeFileSync(paths.token, '5; rm -rf /\n');
    expect(stage('3', 'a').code).toBe(0);
    writeFileSync(paths.log, 'x 1 a stage\n'.repeat(7000));
    expect(stage('4', 'a').code).toBe(0);
    const lines = readFileSync(paths.log, 'utf8').trim().split('\n');
    expect(lines.length).toBe(501);
    expect(lines.at(-1)).toMatch(/^\d+\.\d+ 4 a stage$/);
  });

  it('refuses a token that is not a revision', () => {
    expect(() => raiseFenceScript('/x', { token: '1; reboot', member: 'a', op: 'fence' })).toThrow(
      /not a fencing token/,
    );
    expect(() => raiseFenceScript('/x', { token: '0', member: 'a', op: 'fence' })).toThrow(
      /not a fencing token/,
    );
  });
});
