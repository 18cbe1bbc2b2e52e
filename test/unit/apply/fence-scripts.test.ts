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
const [E7, E8] = ['7'.repeat(32), 'e8'.repeat(16)];
const sh = (script: string) => {
  const r = spawnSync('/bin/sh', ['-s'], { input: script, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout };
};

function setup() {
  const root = tempDir('hostop-fence-');
  const state = join(root, 'state');
  const target = join(root, 'etc', 'app.conf');
  const stage = (token: string, member: string, epoch = E7) =>
    sh(
      stageScript([{ path: target, content: 'x\n', mode: '0644', owner: 'root', group: 'root' }], state, {
        token,
        member,
        op: 'stage',
        epoch,
      }),
    );
  return { state, target, stage, paths: fencePaths(state) };
}

describe('host fence', () => {
  it('raises the kept token and logs who came in, in order', () => {
    const { state, paths } = setup();
    const out = sh(raiseFenceScript(state, { token: '41', member: 'hostop-a', op: 'fence', epoch: E7 }));
    expect(out.code).toBe(0);
    parseRaiseFenceOutput(out.stdout, 'h');
    expect(readFileSync(paths.token, 'utf8')).toBe(`41 ${E7}\n`);
    const again = sh(
      raiseFenceScript(state, { token: '1000000000007', member: 'hostop-b', op: 'fence', epoch: E7 }),
    );
    parseRaiseFenceOutput(again.stdout, 'h');
    expect(readFileSync(paths.token, 'utf8')).toBe(`1000000000007 ${E7}\n`);
    const log = readFileSync(paths.log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' ').slice(1));
    expect(log).toEqual([
      ['41', 'hostop-a', 'fence', E7],
      ['1000000000007', 'hostop-b', 'fence', E7],
    ]);
  });

  it('refuses a lower token before anything is written, and says so', () => {
    const { state, target, stage, paths } = setup();
    parseRaiseFenceOutput(
      sh(raiseFenceScript(state, { token: '90', member: 'b', op: 'fence', epoch: E7 })).stdout,
      'h',
    );
    const late = stage('89', 'a');
    expect(late).toEqual({ code: 76, stdout: 'fenced 90\n' });
    expect(() => parseStageOutput(late.stdout, 1, 'h')).toThrow(
      /took this host over.*token 90.*nothing was changed/,
    );
    expect(existsSync(join(target, '..', '.app.conf.hostop-new'))).toBe(false);
    expect(readFileSync(paths.token, 'utf8')).toBe(`90 ${E7}\n`);
    expect(readFileSync(paths.log, 'utf8')).not.toMatch(/ 89 a /);
    // The owner's own token, and any later one, are let in.
    expect(parseStageOutput(stage('90', 'b').stdout, 1, 'h')[0]?.written).toBe(0);
    expect(stage('91', 'c').code).toBe(0);
    expect(stage('90', 'b').stdout).toBe('fenced 91\n');
  });

  it('treats a garbled fence file as no fence, and keeps the log bounded', () => {
    const { state, stage, paths } = setup();
    parseRaiseFenceOutput(
      sh(raiseFenceScript(state, { token: '5', member: 'a', op: 'fence', epoch: E7 })).stdout,
      'h',
    );
    writeFileSync(paths.token, '5; rm -rf /\n');
    expect(stage('3', 'a').code).toBe(0);
    writeFileSync(paths.log, 'x 1 a stage\n'.repeat(7000));
    expect(stage('4', 'a').code).toBe(0);
    const lines = readFileSync(paths.log, 'utf8').trim().split('\n');
    expect(lines.length).toBe(501);
    expect(lines.at(-1)).toBe(`${lines.at(-1)!.split(' ')[0]} 4 a stage ${E7}`);
  });

  it('a token of a new epoch is let in, the old epoch is retired, and a script of it is refused from then on', () => {
    const { state, stage, paths } = setup();
    const raise = (token: string, epoch: string) =>
      parseRaiseFenceOutput(
        sh(raiseFenceScript(state, { token, member: 'a', op: 'fence', epoch })).stdout,
        'h',
      );
    expect(raise('90000', E7)).toEqual({});
    // A wiped etcd's revisions start again at 1: the new epoch's first claim is let in; the raise says from what.
    expect(raise('12', E8)).toEqual({ adopted: { epoch: E7, token: '90000' } });
    expect(readFileSync(paths.token, 'utf8')).toBe(`12 ${E8} ${E7}\n`);
    // Within the new epoch tokens compare as ever.
    expect(stage('11', 'a', E8)).toEqual({ code: 76, stdout: 'fenced 12\n' });
    expect(stage('13', 'b', E8).code).toBe(0);
    // A daemon that slept through the move, with its old epoch's far higher token, is refused.
    const late = stage('95000', 'c', E7);
    expect(late).toEqual({ code: 76, stdout: 'fenced retired\n' });
    expect(() => parseStageOutput(late.stdout, 1, 'h')).toThrow(/newer epoch.*nothing was changed/);
    expect(raise('13', E8)).toEqual({});
    expect(readFileSync(paths.token, 'utf8')).toBe(`13 ${E8} ${E7}\n`);
    expect(
      readFileSync(paths.log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(' ').slice(1)),
    ).toEqual([
      ['90000', 'a', 'fence', E7],
      ['12', 'a', 'fence', E8],
      ['13', 'b', 'stage', E8],
      ['13', 'a', 'fence', E8],
    ]);
  });

  it('keeps the last 8 retired epochs, and a garbled list counts as none', () => {
    const { state, paths } = setup();
    const epochs = Array.from({ length: 10 }, (_, i) => i.toString(16).repeat(32));
    epochs.forEach((e, i) => {
      expect(
        sh(raiseFenceScript(state, { token: String(100 - i), member: 'a', op: 'fence', epoch: e })).code,
      ).toBe(0);
    });
    const [token, epoch, ...retired] = readFileSync(paths.token, 'utf8').trim().split(' ');
    expect([token, epoch]).toEqual(['91', epochs[9]]);
    expect(retired).toEqual(epochs.slice(1, 9).reverse());
    writeFileSync(paths.token, `91 ${epochs[9]} $(reboot) *\n`);
    expect(
      sh(raiseFenceScript(state, { token: '5', member: 'a', op: 'fence', epoch: epochs[0]! })).code,
    ).toBe(0);
    expect(readFileSync(paths.token, 'utf8')).toBe(`5 ${epochs[0]} ${epochs[9]}\n`);
  });

  it('refuses a token that is not a revision', () => {
    expect(() => raiseFenceScript('/x', { token: '1; reboot', member: 'a', op: 'fence', epoch: E7 })).toThrow(
      /not a fencing token/,
    );
    expect(() => raiseFenceScript('/x', { token: '0', member: 'a', op: 'fence', epoch: E7 })).toThrow(
      /not a fencing token/,
    );
    expect(() =>
      raiseFenceScript('/x', { token: '5', member: 'a', op: 'fence', epoch: `${E7}; reboot` }),
    ).toThrow(/not a fencing epoch/);
  });
});
