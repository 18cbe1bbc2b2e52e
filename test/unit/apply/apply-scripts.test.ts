import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  activateScript,
  parseActivateOutput,
  parseRestoreOutput,
  parseStageOutput,
  restoreScript,
  stageScript,
  tempPathFor,
} from '../../../src/apply/apply-scripts.js';
import { tempDir } from '../../support/temp.js';

// These scripts run on hosts through a persistent `sh`; here they run through the same /bin/sh (dash on Debian)
// on the real filesystem, so their effects are observed, not assumed.
const sh = (script: string) => execFileSync('/bin/sh', ['-s'], { input: script, encoding: 'utf8' });

let root: string;
let state: string;
beforeEach(() => {
  root = tempDir('hostop-apply-');
  state = join(root, 'state');
});

/** A one-byte root file at `p` with this validator. */
const validated = (p: string, validate: { argv: string[]; timeoutMs: number }) => ({
  path: p,
  content: 'x',
  mode: '0644',
  owner: 'root',
  group: 'root',
  validate,
});

const hostile = 'it\'s $(touch CANARY) `touch CANARY` "quoted"\nline two ünïcödé \\ ; rm -rf /\n';

describe('stage script', () => {
  it('writes exact bytes, mode and owner to a temp file beside the target, leaves the target alone', () => {
    const target = join(root, 'etc app', 'conf $(x).yaml');
    const out = sh(
      stageScript([{ path: target, content: hostile, mode: '0640', owner: 'root', group: 'root' }], state),
    );
    const [r] = parseStageOutput(out, 1, 'local');
    expect(r).toEqual({ written: 0, output: '' });
    expect(readFileSync(tempPathFor(target), 'utf8')).toBe(hostile);
    expect((statSync(tempPathFor(target)).mode & 0o777).toString(8)).toBe('640');
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(root).some((n) => n.includes('CANARY'))).toBe(false);
    expect(existsSync(join(process.cwd(), 'CANARY'))).toBe(false);
  });

  it('runs the validator on the candidate and reports its exit code and output', () => {
    const ok = join(root, 'ok.conf');
    const bad = join(root, 'bad.conf');
    const validate = {
      argv: ['/bin/sh', '-c', 'grep -q good "$1" || { echo "no good in $1" >&2; exit 1; }', 'v', '{}'],
      timeoutMs: 5000,
    };
    const out = sh(
      stageScript(
        [
          { path: ok, content: 'good\n', mode: '0644', owner: 'root', group: 'root', validate },
          { path: bad, content: 'bad\n', mode: '0644', owner: 'root', group: 'root', validate },
        ],
        state,
      ),
    );
    const [a, b] = parseStageOutput(out, 2, 'local');
    expect(a!.validatorCode).toBe(0);
    expect(b!.validatorCode).toBe(1);
    expect(b!.output).toContain(`no good in ${tempPathFor(bad)}`);
  });

  it('kills a hanging validator at its deadline (exit 124)', () => {
    const p = join(root, 'hang.conf');
    const out = sh(stageScript([validated(p, { argv: ['sleep', '30'], timeoutMs: 1000 })], state));
    expect(parseStageOutput(out, 1, 'local')[0]!.validatorCode).toBe(124);
  });

  it('refuses a parent directory reached through a symlink', () => {
    mkdirSync(join(root, 'real'));
    symlinkSync(join(root, 'real'), join(root, 'link'));
    const out = sh(
      stageScript(
        [{ path: join(root, 'link', 'f'), content: 'x', mode: '0644', owner: 'root', group: 'root' }],
        state,
      ),
    );
    const [r] = parseStageOutput(out, 1, 'local');
    expect(r!.written).not.toBe(0);
    expect(r!.output).toContain('symlink');
    expect(readdirSync(join(root, 'real'))).toEqual([]);
  });

  it('rejects output it does not understand', () => {
    expect(() => parseStageOutput('staged 0 0\nsurprise\n', 1, 'h')).toThrow(/unexpected line/);
    expect(() => parseStageOutput('', 1, 'h')).toThrow(/ends before item 0/);
  });
});

describe('activate and restore scripts', () => {
  const units = [] as never[];

  it('replaces the target atomically, keeps a backup and the original, and restores both ways', () => {
    const p = join(root, 'app.conf');
    writeFileSync(p, 'before hostop\n');
    sh(stageScript([{ path: p, content: 'v1\n', mode: '0600', owner: 'root', group: 'root' }], state));
    let out = sh(
      activateScript([{ path: p, keepOriginal: true }], {
        stateRoot: state,
        inventory: '{"v":1}\n',
        daemonReload: false,
        units,
      }),
    );
    expect(parseActivateOutput(out, 1, 'local').activated[0]).toEqual({ code: 0, existed: true });
    expect(readFileSync(p, 'utf8')).toBe('v1\n');
    expect(existsSync(tempPathFor(p))).toBe(false);
    expect(readFileSync(join(state, 'managed.json'), 'utf8')).toBe('{"v":1}\n');
    expect((statSync(state).mode & 0o777).toString(8)).toBe('700');

    sh(stageScript([{ path: p, content: 'v2 broken\n', mode: '0600', owner: 'root', group: 'root' }], state));
    sh(
      activateScript([{ path: p, keepOriginal: false }], {
        stateRoot: state,
        inventory: '{"v":2}\n',
        daemonReload: false,
        units,
      }),
    );
    expect(readFileSync(p, 'utf8')).toBe('v2 broken\n');

    // Rollback: the previous version (v1) comes back from backup/.
    out = sh(
      restoreScript([{ path: p, existed: true, from: 'backup' }], {
        stateRoot: state,
        inventory: '{"v":1}\n',
        daemonReload: false,
        units,
      }),
    );
    expect(parseRestoreOutput(out, 'local').restored).toEqual([0]);
    expect(readFileSync(p, 'utf8')).toBe('v1\n');

    // Prune: the pre-hostop version comes back from original/.
    sh(
      restoreScript([{ path: p, existed: true, from: 'original' }], {
        stateRoot: state,
        inventory: '{}\n',
        daemonReload: false,
        units,
      }),
    );
    expect(readFileSync(p, 'utf8')).toBe('before hostop\n');
  });

  it('a created file is removed on rollback', () => {
    const p = join(root, 'new.conf');
    sh(stageScript([{ path: p, content: 'new\n', mode: '0644', owner: 'root', group: 'root' }], state));
    const out = sh(
      activateScript([{ path: p, keepOriginal: true }], {
        stateRoot: state,
        inventory: '{}\n',
        daemonReload: false,
        units,
      }),
    );
    expect(parseActivateOutput(out, 1, 'local').activated[0]!.existed).toBe(false);
    sh(
      restoreScript([{ path: p, existed: false, from: 'backup' }], {
        stateRoot: state,
        inventory: '{}\n',
        daemonReload: false,
        units,
      }),
    );
    expect(existsSync(p)).toBe(false);
  });

  it('replaces a symlink at the target instead of writing through it', () => {
    const victim = join(root, 'authorized_keys');
    writeFileSync(victim, 'ssh-ed25519 AAAA-trusted\n');
    const p = join(root, 'innocent.conf');
    symlinkSync(victim, p);
    sh(stageScript([{ path: p, content: 'payload\n', mode: '0644', owner: 'root', group: 'root' }], state));
    sh(
      activateScript([{ path: p, keepOriginal: true }], {
        stateRoot: state,
        inventory: '{}\n',
        daemonReload: false,
        units,
      }),
    );
    expect(readFileSync(victim, 'utf8')).toBe('ssh-ed25519 AAAA-trusted\n');
    expect(lstatSync(p).isSymbolicLink()).toBe(false);
    expect(readFileSync(p, 'utf8')).toBe('payload\n');
    // The backup kept the link itself, so a rollback restores the link, not a copy of its target.
    sh(
      restoreScript([{ path: p, existed: true, from: 'backup' }], {
        stateRoot: state,
        inventory: '{}\n',
        daemonReload: false,
        units,
      }),
    );
    expect(readlinkSync(p)).toBe(victim);
  });

  it('reports a target that is a directory as a failure and leaves it in place', () => {
    const p = join(root, 'adir');
    mkdirSync(join(p, 'inner'), { recursive: true });
    sh(stageScript([{ path: p, content: 'x', mode: '0644', owner: 'root', group: 'root' }], state));
    const out = sh(
      activateScript([{ path: p, keepOriginal: false }], {
        stateRoot: state,
        inventory: '{}\n',
        daemonReload: false,
        units,
      }),
    );
    expect(parseActivateOutput(out, 1, 'local').activated[0]!.code).not.toBe(0);
    expect(statSync(join(p, 'inner')).isDirectory()).toBe(true);
  });

  it('detects truncated output', () => {
    expect(() => parseActivateOutput('activated 0 0 existed\n', 1, 'h')).toThrow(/incomplete/);
  });

  it("reports systemctl's own exit status, its words, and the main process's start before and after", () => {
    // A systemctl on PATH that refuses a reload the way systemd does for a unit without ExecReload, and
    // moves the main start time on restart; the script's pipes must not hide the refusal.
    const bin = join(root, 'bin');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'systemctl'),
      [
        '#!/bin/sh',
        `t=${root}/started`,
        'case $1 in',
        '  show) cat "$t" 2>/dev/null || echo 100;;',
        '  reload) echo "Failed to reload-or-try-restart $3: Job type reload is not applicable for unit $3." >&2; exit 1;;',
        '  restart) echo 200 > "$t";;',
        'esac',
      ].join('\n'),
      { mode: 0o755 },
    );
    const script = activateScript([], {
      stateRoot: state,
      inventory: '{}\n',
      daemonReload: false,
      units: [
        { unit: 'otelcol-contrib.service', action: 'reload' },
        { unit: 'otelcol-contrib.service', action: 'restart' },
      ],
    });
    const out = parseActivateOutput(sh(`PATH=${bin}:$PATH\n${script}`), 0, 'local');
    expect(out.units).toEqual([
      {
        code: 1,
        mainStartBefore: '100',
        mainStartAfter: '100',
        output:
          'Failed to reload-or-try-restart otelcol-contrib.service: Job type reload is not applicable for unit otelcol-contrib.service.',
      },
      { code: 0, mainStartBefore: '100', mainStartAfter: '200', output: '' },
    ]);
  });
});

// Real sh as root with a real unprivileged user (nobody, uid 65534): a directory on the way to a target that a
// user can change decides who acts there. The lab test (test/lab/symlink-race.test.ts) races such a user.
describe('directories a non-root user can write', () => {
  const NOBODY = 65534;
  const run = (items: Parameters<typeof stageScript>[0]) =>
    parseStageOutput(sh(stageScript(items, state)), items.length, 'local');
  let home: string;
  beforeEach(() => {
    chmodSync(root, 0o755);
    home = join(root, 'home');
    mkdirSync(home, { mode: 0o755 });
    chownSync(home, NOBODY, NOBODY);
  });

  it('refuses a root-owned file there, naming the directory and its owner, and writes nothing', () => {
    const [r] = run([
      { path: join(home, 'sub', 'app.conf'), content: 'x', mode: '0644', owner: 'root', group: 'root' },
    ]);
    expect(r!.written).toBe(3);
    expect(r!.output).toBe(
      `directory ${home} is writable by user nobody (uid ${NOBODY}): a file owned by root there cannot be kept safe from that user; make nobody its owner, or move the file`,
    );
    expect(readdirSync(home)).toEqual([]);
  });

  it("writes, validates, renames, fixes and restores the owner's own file as that user", () => {
    const p = join(home, 'sub', 'app.conf');
    const whoami = { argv: ['/bin/sh', '-c', 'id -u; cat "$1"', 'v', '{}'], timeoutMs: 5000 };
    const [r] = run([
      { path: p, content: 'v1\n', mode: '0640', owner: 'nobody', group: 'nogroup', validate: whoami },
    ]);
    expect(r).toEqual({ written: 0, validatorCode: 0, output: `${NOBODY}\nv1` });
    // The directory it had to make is the user's, like the candidate.
    expect(statSync(join(home, 'sub')).uid).toBe(NOBODY);
    expect(statSync(tempPathFor(p))).toMatchObject({ uid: NOBODY, gid: NOBODY });
    const opts = { stateRoot: state, inventory: '{}\n', daemonReload: false, units: [] };
    let out = parseActivateOutput(sh(activateScript([{ path: p, keepOriginal: true }], opts)), 1, 'local');
    expect(out.activated[0]).toEqual({ code: 0, existed: false });
    expect(readFileSync(p, 'utf8')).toBe('v1\n');

    run([{ path: p, content: 'v2\n', mode: '0600', owner: 'nobody', group: 'nogroup' }]);
    const chmods = [{ path: p, mode: '0604', owner: 'nobody', group: 'nogroup' }];
    out = parseActivateOutput(
      sh(activateScript([{ path: p, keepOriginal: true }], { ...opts, chmods })),
      1,
      'local',
    );
    expect(out.fixed).toEqual([0]);
    expect(statSync(p)).toMatchObject({ uid: NOBODY, mode: 0o100604 });
    expect(readFileSync(p, 'utf8')).toBe('v2\n');

    // Rollback: the backup (v1, 0640, nobody's) comes back as nobody's file by a rename.
    const restored = parseRestoreOutput(
      sh(restoreScript([{ path: p, existed: true, from: 'backup' }], opts)),
      'local',
    );
    expect(restored.restored).toEqual([0]);
    expect(readFileSync(p, 'utf8')).toBe('v1\n');
    expect(statSync(p)).toMatchObject({ uid: NOBODY, gid: NOBODY, mode: 0o100640 });
  });

  it('never restores a saved copy that is not the user’s own file into their directory', () => {
    const p = join(home, 'app.conf');
    writeFileSync(p, 'root secret\n', { mode: 0o600 }); // a root file there, e.g. from before hostop
    run([{ path: p, content: 'v1\n', mode: '0644', owner: 'nobody', group: 'nogroup' }]);
    const opts = { stateRoot: state, inventory: '{}\n', daemonReload: false, units: [] };
    sh(activateScript([{ path: p, keepOriginal: true }], opts));
    const restored = parseRestoreOutput(
      sh(restoreScript([{ path: p, existed: true, from: 'backup' }], opts)),
      'local',
    );
    expect(restored.restored[0]).not.toBe(0);
    expect(readFileSync(p, 'utf8')).toBe('v1\n');
  });

  it('refuses a directory others can write (group, every user, an ACL mask), and files directly in a sticky one', () => {
    const dirs = ['open', 'grouped', 'rootgroup', 'sticky'].map((n) => join(root, n));
    for (const d of dirs) mkdirSync(d);
    chmodSync(dirs[0]!, 0o777);
    chmodSync(dirs[1]!, 0o775);
    chownSync(dirs[1]!, 0, NOBODY);
    chmodSync(dirs[2]!, 0o775); // group root: also what a root:root directory with a user ACL shows
    chmodSync(dirs[3]!, 0o1777);
    const sub = join(dirs[3]!, 'own');
    mkdirSync(sub); // root's own directory inside a sticky one: others cannot rename it
    const results = run(
      [...dirs, sub].map((d) => ({
        path: join(d, 'f'),
        content: 'x',
        mode: '0644',
        owner: 'root',
        group: 'root',
      })),
    );
    const modes = ['777', '775', '775', '1777'];
    dirs.forEach((d, i) =>
      expect(results[i]!.output).toBe(
        `directory ${d} is writable by other users (mode ${modes[i]}, or an ACL); hostop refuses to write in or below it`,
      ),
    );
    expect(results[4]).toEqual({ written: 0, output: '' });
  });

  it('never copies onto a saved original that is a dangling link (cp would write through it once it resolves)', () => {
    const p = join(home, 'app.conf');
    symlinkSync(join(home, 'gone'), p); // nobody's link, dangling, when hostop first manages the path
    run([{ path: p, content: 'v1\n', mode: '0644', owner: 'nobody', group: 'nogroup' }]);
    const opts = { stateRoot: state, inventory: '{}\n', daemonReload: false, units: [] };
    sh(activateScript([{ path: p, keepOriginal: true }], opts)); // original/ now holds the dangling link
    // Every cp of the next activate, recorded: none may aim at original/ (the user can make the saved link
    // resolve to a root file between a `-e` test and the copy).
    const shims = join(root, 'shims');
    mkdirSync(shims);
    writeFileSync(
      join(shims, 'cp'),
      `#!/bin/sh\necho "$@" >> ${join(root, 'cp-calls')}\nexec /bin/cp "$@"\n`,
      {
        mode: 0o755,
      },
    );
    run([{ path: p, content: 'v2\n', mode: '0644', owner: 'nobody', group: 'nogroup' }]);
    const script = activateScript([{ path: p, keepOriginal: true }], opts);
    execFileSync('/bin/sh', ['-s'], {
      input: script,
      env: { ...process.env, PATH: `${shims}:${process.env.PATH}` },
    });
    const calls = readFileSync(join(root, 'cp-calls'), 'utf8');
    expect(calls).toContain('/backup/'); // the shim saw the backup copy...
    expect(calls).not.toContain('/original/'); // ...and no copy onto the saved original
    expect(readFileSync(p, 'utf8')).toBe('v2\n');
  });
});

describe('the host lock', () => {
  it('runs one changing script at a time: the second waits for the first to end', async () => {
    const p = join(root, 'x.conf');
    mkdirSync(state, { recursive: true });
    const order = join(root, 'order');
    // A first script (its lock held by flock around a sleep) and, started while it holds the lock, a second.
    const first = spawn('/bin/sh', [
      '-c',
      `exec 9>>"$1/.lock"; flock 9; echo locked >"$2"; sleep 1; echo first >>"$2"`,
      'sh',
      state,
      order,
    ]);
    await waitFor(() => existsSync(order));
    sh(
      stageScript(
        [validated(p, { argv: ['/bin/sh', '-c', `echo second >>"$1"`, 'v', order], timeoutMs: 5000 })],
        state,
      ),
    );
    await new Promise((r) => first.on('exit', r));
    expect(readFileSync(order, 'utf8')).toBe('locked\nfirst\nsecond\n');
  });

  it('a script that could not get the lock is a retryable HostBusy error', () => {
    for (const parse of [
      () => parseStageOutput('locked\n', 1, 'h'),
      () => parseActivateOutput('locked\n', 1, 'h'),
      () => parseRestoreOutput('locked\n', 'h'),
    ])
      expect(parse).toThrow(expect.objectContaining({ code: 'HostBusy', retryable: true, host: 'h' }));
  });
});

async function waitFor(ok: () => boolean): Promise<void> {
  while (!ok()) await new Promise((r) => setTimeout(r, 20));
}
