import { describe, expect, it } from 'vitest';
import { desiredState, fileResource, hostop, writeDesiredState } from '../support/fleet.js';
import { labSsh } from '../support/lab.js';

// The attack of issue 12 on a real host (lab-26, shared with hostile.test.ts): an unprivileged user who owns a
// directory on the way to a managed file swaps names in it for symlinks, in a loop, while hostop stages,
// renames, fixes modes and restores there. Before the fix, root's chown/chmod of the staged file and of the
// target followed those links: a root-only file ended up owned by the user, another mode 0666. Whatever the
// race does to hostop's own work, no root-owned file may be chowned, chmodded or written.
const HOST = 'lab-26';
const HOME = '/home/racer';
const APP = `${HOME}/app`;
const TARGET = `${APP}/app.conf`;
const sh = (cmd: string) => labSsh(HOST, cmd).toString('utf8');

/** Owner, group, mode and sha256 of the root files the racer aims at, and of their directory. */
const victims = () =>
  sh(
    'stat -c "%n %U %G %a %s %Y" /etc/hostop-victim /etc/hostop-race /etc/hostop-race/app.conf; ' +
      'sha256sum /etc/hostop-victim /etc/hostop-race/app.conf; ls -A /etc/hostop-race',
  );

const STOP_RACERS = 'systemctl stop hostop-racer-temp hostop-racer-target hostop-racer-dir 2>/dev/null; true';

const RACER = `import os, sys
os.chdir('${HOME}')
mode, victim = sys.argv[1], '/etc/hostop-victim'
def quietly(f, *a):
    try: f(*a)
    except OSError: pass
last = b''
while True:
    if mode == 'temp':
        quietly(os.unlink, 'app/.app.conf.hostop-new')
        quietly(os.symlink, victim, 'app/.app.conf.hostop-new')
    elif mode == 'target':
        try:
            if not os.path.islink('app/app.conf'):
                with open('app/app.conf', 'rb') as f: last = f.read()
        except OSError: pass
        quietly(os.symlink, victim, 'app/.l'); quietly(os.rename, 'app/.l', 'app/app.conf')
        try:
            with open('app/.r', 'wb') as f: f.write(last)
            os.rename('app/.r', 'app/app.conf')
        except OSError: pass
    else:
        try:
            os.rename('app', 'app.real')
            quietly(os.symlink, '/etc/hostop-race', 'app')
            quietly(os.unlink, 'app')
        except OSError: pass
        quietly(os.rename, 'app.real', 'app')
`;

/** `converged`, or the reason the apply reported for the racer's file; anything but exit 0 or 1 fails. */
async function applyOutcome(dir: string): Promise<string> {
  const r = await hostop(['apply', dir]);
  expect([0, 1], r.stdout + r.stderr).toContain(r.code);
  if (r.code === 0) return 'converged';
  return r.stdout.split('\n').find((l) => /File\/racer-app/.test(l)) ?? r.stdout.slice(-300);
}

const racerFile = (content: string, mode: string) =>
  fileResource('racer-app', [HOST], TARGET, content, `  owner: racer\n  group: racer\n  mode: "${mode}"\n`);

describe('symlink races in a directory an unprivileged user owns', () => {
  it('refuses a root-owned file there, naming the directory and its owner', async () => {
    sh(
      `${STOP_RACERS}; rm -rf /var/lib/hostop ${HOME}; id racer >/dev/null 2>&1 || useradd -m -s /bin/sh racer; ` +
        `mkdir -p ${APP} && chown -R racer:racer ${HOME} && chmod 755 ${HOME}`,
    );
    const dir = desiredState([HOST], fileResource('root-in-home', [HOST], `${APP}/root.conf`, 'x\n'));
    const r = await hostop(['apply', dir]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(
      /File\/root-in-home\s+failed: could not write \/home\/racer\/app\/root\.conf: directory \/home\/racer\/app is writable by user racer \(uid \d+\): a file owned by root there cannot be kept safe from that user/,
    );
    expect(sh(`ls -A ${APP}`)).toBe('');
  }, 300_000);

  it('a racer swapping the staged file, the target and the directory for symlinks never touches a root file', async () => {
    sh(
      `${STOP_RACERS}; rm -rf /var/lib/hostop ${HOME}/* /etc/hostop-race; ` +
        `mkdir -p ${APP} /etc/hostop-race && printf 'racer original\\n' > ${TARGET} && chown -R racer:racer ${HOME}; ` +
        `printf 'precious\\n' > /etc/hostop-victim && chmod 600 /etc/hostop-victim && chown root:root /etc/hostop-victim; ` +
        `printf 'root app\\n' > /etc/hostop-race/app.conf && chmod 600 /etc/hostop-race/app.conf; chmod 700 /etc/hostop-race`,
    );
    const before = victims();
    // Three racers, each its own user's process in a transient unit, in tight loops (no fork per step):
    // the staged name becomes a link to a root file; the target flips between a link to a root file and a
    // regular file holding what hostop last wrote (so a probe sees a file needing only a mode fix, and the fix
    // meets the link); the directory itself becomes, for a moment, a link to a root directory.
    sh(`cat > /usr/local/bin/hostop-racer.py <<'EOF'\n${RACER}EOF\nchmod 755 /usr/local/bin/hostop-racer.py`);
    const dir = desiredState([HOST], racerFile('v0\n', '0640'));
    // Rounds of every root-side step the race aims at: write + rename (new content), the mode fix alone (same
    // content, new mode), the prune that restores the original. Each round with one racer, then all three:
    // alone, each lets hostop's other steps through; together they break nearly every step. Failures are
    // expected (the user can always spoil hostop's work on their own file); a root file changed never is.
    const outcomes: string[] = [];
    for (const racers of [['target'], ['temp'], ['dir'], ['temp', 'target', 'dir']]) {
      for (const mode of racers)
        sh(
          `systemd-run --quiet --uid=racer --gid=racer --unit=hostop-racer-${mode} --property=RuntimeMaxSec=300 ` +
            `/usr/bin/python3 /usr/local/bin/hostop-racer.py ${mode}`,
        );
      try {
        for (const [content, mode] of [
          ['v\n', '0640'],
          ['v\n', '0604'],
          ['w\n', '0600'],
        ] as const) {
          writeDesiredState(dir, [HOST], racerFile(content, mode));
          outcomes.push(await applyOutcome(dir));
        }
        writeDesiredState(dir, [HOST], '');
        outcomes.push(await applyOutcome(dir));
        // The racers ran the whole round (a crashed racer would prove nothing).
        expect(sh(`systemctl is-active ${racers.map((m) => `hostop-racer-${m}`).join(' ')}`)).toBe(
          'active\n'.repeat(racers.length),
        );
      } finally {
        sh(STOP_RACERS);
      }
    }
    // hostop's own steps did run under the race: some applies wrote and renamed (then found the racer's link
    // again, or converged); the rest were stopped by a check or by the user's own permissions.
    expect(
      outcomes.some((o) => o === 'converged' || /still drifted after apply/.test(o)),
      outcomes.join('\n'),
    ).toBe(true);
    expect(victims()).toBe(before);
    // Nothing of root's in the user's directory either, and no root-owned leftovers.
    expect(sh(`find ${HOME} -user root -print`)).toBe('');

    // With the racer gone, the next apply converges the user's file as the user's.
    sh(
      `cd ${HOME} && { [ -d app.real ] && rm -rf app && mv app.real app; true; }; rm -f ${APP}/.l ${APP}/.r`,
    );
    writeDesiredState(dir, [HOST], racerFile('final\n', '0640'));
    const done = await hostop(['apply', dir]);
    expect(done.code, done.stdout + done.stderr).toBe(0);
    expect(sh(`stat -c '%U %G %a %F' ${TARGET}; cat ${TARGET}`)).toBe(
      'racer racer 640 regular file\nfinal\n',
    );
  }, 900_000);
});
