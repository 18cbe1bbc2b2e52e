import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installScript, parseInstallOutput } from '../../../src/apply/package-scripts.js';
import { tempDir } from '../../support/temp.js';

// The install script on the real sh, with a stand-in `dpkg` first on PATH that logs its calls: a dpkg lock held by
// another run is waited out (dpkg itself never waits), any other failure is reported at once. Real dpkg runs in
// test/lab/packages.test.ts.

/** A `dpkg` that fails the first `lockedTimes` calls with `message` and exit 2, then succeeds. */
function fakeDpkg(lockedTimes: number, message: string): { bin: string; calls: () => string[] } {
  const dir = tempDir('hostop-fake-dpkg-');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const log = join(dir, 'calls');
  writeFileSync(log, '');
  writeFileSync(
    join(bin, 'dpkg'),
    `#!/bin/sh\necho "$LC_ALL $*" >> '${log}'\nn=$(wc -l < '${log}')\n` +
      `if [ "$n" -le ${lockedTimes} ]; then echo "${message}" >&2; exit 2; fi\necho done\n`,
  );
  chmodSync(join(bin, 'dpkg'), 0o755);
  return { bin, calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

function run(bin: string) {
  const root = tempDir('hostop-state-');
  const script = installScript([{ op: 'deb', file: '/var/lib/hostop/packages/x.deb' }], root);
  const r = spawnSync('/bin/sh', ['-s'], {
    input: script,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  return parseInstallOutput(r.stdout, 1, 'h1');
}

describe('installScript', () => {
  it('waits out a dpkg lock another run holds, and then installs', () => {
    const dpkg = fakeDpkg(2, 'dpkg: error: dpkg frontend lock was locked by another process with pid 4242');
    const [step] = run(dpkg.bin);
    expect(step).toEqual({ code: 0, output: 'done\n' });
    expect(dpkg.calls()).toEqual(
      Array(3).fill('C --force-confdef --force-confold -i -- /var/lib/hostop/packages/x.deb'),
    );
  });

  it('reports any other failure at once, with what dpkg said', () => {
    const dpkg = fakeDpkg(5, 'dpkg: error processing archive x.deb (--install): corrupted');
    const [step] = run(dpkg.bin);
    expect(step).toEqual({
      code: 2,
      output: 'dpkg: error processing archive x.deb (--install): corrupted\n',
    });
    expect(dpkg.calls()).toHaveLength(1);
  });
});
