import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { gitHeadLog, gitRevision } from '../../../src/source/load.js';
import { watchPaths } from '../../../src/source/watch-dir.js';

// Real git on a real temporary repository: the desired-state directory is a subdirectory of it.
const root = mkdtempSync(join(tmpdir(), 'hostop-git-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const git = (...args: string[]) =>
  execFileSync('git', ['-C', root, '-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], {
    encoding: 'utf8',
  }).trim();
const dir = join(root, 'desired-state');

describe('gitRevision', () => {
  it('is undefined outside a git work tree', async () => {
    expect(await gitRevision(tmpdir())).toBeUndefined();
  });

  it('is the commit SHA, with -dirty only while the desired-state directory itself has changes', async () => {
    git('init', '-q');
    mkdirSync(dir);
    writeFileSync(join(dir, 'hosts.yaml'), 'a: 1\n');
    writeFileSync(join(root, 'README'), 'x\n');
    git('add', '-A');
    git('commit', '-qm', 'one');
    const sha = git('rev-parse', 'HEAD');
    expect(await gitRevision(dir)).toBe(sha);

    writeFileSync(join(root, 'README'), 'changed outside the directory\n');
    expect(await gitRevision(dir)).toBe(sha);

    writeFileSync(join(dir, 'hosts.yaml'), 'a: 2\n');
    expect(await gitRevision(dir)).toBe(`${sha}-dirty`);
    git('checkout', '--', 'desired-state/hosts.yaml');
    writeFileSync(join(dir, 'new.yaml'), 'b: 1\n');
    expect(await gitRevision(dir)).toBe(`${sha}-dirty`);

    git('add', '-A');
    git('commit', '-qm', 'two');
    expect(await gitRevision(dir)).toBe(git('rev-parse', 'HEAD'));
  });

  it("never runs the repository's fsmonitor or hooks (a program named by .git/config)", async () => {
    const canary = join(root, 'ran');
    const program = join(root, 'fsmonitor.sh');
    writeFileSync(program, `#!/bin/sh\ntouch '${canary}'\n`);
    chmodSync(program, 0o755);
    git('config', 'core.fsmonitor', program);
    // The bait works: git itself runs it on a plain status.
    git('status', '--porcelain');
    expect(existsSync(canary)).toBe(true);
    rmSync(canary);
    expect(await gitRevision(dir)).toBe(git('-c', 'core.fsmonitor=false', 'rev-parse', 'HEAD'));
    expect(existsSync(canary)).toBe(false);
  });
});

/** Watches `paths`, runs `change`, and waits until the watch has fired exactly once. */
async function firesOnceOn(paths: string[], change: () => void): Promise<void> {
  let fired = 0;
  const w = watchPaths(
    paths,
    50,
    () => fired++,
    (e) => {
      throw e;
    },
  );
  try {
    await w.ready;
    change();
    await vi.waitFor(() => expect(fired).toBe(1), { timeout: 10_000 });
  } finally {
    await w.close();
  }
}

describe('gitHeadLog', () => {
  it("is HEAD's reflog, which a commit that changes no file appends to; a watch on it fires though .git is ignored", async () => {
    expect(await gitHeadLog(tmpdir())).toBeUndefined();
    const log = (await gitHeadLog(dir))!;
    expect(log).toBe(join(root, '.git', 'logs', 'HEAD'));
    await firesOnceOn([dir, log], () => git('commit', '-q', '--allow-empty', '-m', 'nothing changed'));
  });

  it('a repository without a commit has no reflog yet: the watch sees it appear with the first commit', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'hostop-git-fresh-'));
    try {
      const g = (...args: string[]) =>
        execFileSync('git', ['-C', fresh, '-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args]);
      g('init', '-q');
      const log = (await gitHeadLog(fresh))!;
      expect(existsSync(log)).toBe(false);
      await firesOnceOn([fresh, log], () => g('commit', '-q', '--allow-empty', '-m', 'first'));
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });
});
