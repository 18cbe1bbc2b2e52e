import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  EPOCH,
  drawEpoch,
  fencePaths,
  parseRaiseFenceOutput,
  parseStageOutput,
  raiseFenceScript,
  stageScript,
} from '../../../src/apply/apply-scripts.js';
import { tempDir } from '../../support/temp.js';

/** The fence of several daemons (issue 17), run by the real /bin/sh on a real state directory. */
/** Epochs drawn at ms 7 and ms 8 (their first 12 hex digits), so E8 is the newer. */
const [E7, E8] = [`${'0'.repeat(11)}7${'7'.repeat(20)}`, `${'0'.repeat(11)}8${'e8'.repeat(10)}`];
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

  it('a token of a newer epoch is let in; a script of an older epoch is refused from then on', () => {
    const { state, stage, paths } = setup();
    const raise = (token: string, epoch: string) =>
      parseRaiseFenceOutput(
        sh(raiseFenceScript(state, { token, member: 'a', op: 'fence', epoch })).stdout,
        'h',
      );
    expect(raise('90000', E7)).toEqual({});
    // A wiped etcd's revisions start again at 1: the new epoch's first claim is let in; the raise says from what.
    expect(raise('12', E8)).toEqual({ adopted: { epoch: E7, token: '90000' } });
    expect(readFileSync(paths.token, 'utf8')).toBe(`12 ${E8}\n`);
    // Within the new epoch tokens compare as ever.
    expect(stage('11', 'a', E8)).toEqual({ code: 76, stdout: 'fenced 12\n' });
    expect(stage('13', 'b', E8).code).toBe(0);
    // A daemon that slept through the move, with its old epoch's far higher token, is refused.
    const late = stage('95000', 'c', E7);
    expect(late).toEqual({ code: 76, stdout: 'fenced epoch\n' });
    expect(() => parseStageOutput(late.stdout, 1, 'h')).toThrow(/newer fencing epoch.*nothing was changed/);
    // So is an epoch drawn in the same ms as the host's but not it (never two live ones: etcd keeps one).
    expect(stage('14', 'c', `${E8.slice(0, 12)}${'0'.repeat(20)}`)).toEqual({
      code: 76,
      stdout: 'fenced epoch\n',
    });
    expect(raise('13', E8)).toEqual({});
    expect(readFileSync(paths.token, 'utf8')).toBe(`13 ${E8}\n`);
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

  it('a garbled epoch in the fence file counts as none; epochs drawn now are ordered by their time', () => {
    const { state, paths } = setup();
    mkdirSync(state, { recursive: true });
    writeFileSync(paths.token, `90000 $(reboot)${'f'.repeat(23)}\n`);
    expect(sh(raiseFenceScript(state, { token: '3', member: 'a', op: 'fence', epoch: E7 })).code).toBe(0);
    expect(readFileSync(paths.token, 'utf8')).toBe(`3 ${E7}\n`);
    const [a, b] = [drawEpoch(1_700_000_000_000), drawEpoch(1_700_000_000_001)];
    expect(a).toMatch(EPOCH);
    expect(a.slice(0, 12) < b.slice(0, 12)).toBe(true);
    expect(drawEpoch(Date.now())).not.toBe(drawEpoch(Date.now()));
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
