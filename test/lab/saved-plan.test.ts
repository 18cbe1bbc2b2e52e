import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { HOSTOP_BIN, desiredState, fileResource, hostop, writeDesiredState } from '../support/fleet.js';
import { labSsh } from '../support/lab.js';

// A reviewed plan is what gets applied (Terraform's saved plan and its "Enter a value"): `hostop plan --out`
// then `hostop apply FILE`, refused before anything is written when a host or the desired state moved; and
// `hostop apply` on a terminal, driven through a real pseudo-terminal (util-linux script(1)). lab-09 and lab-10
// belong to this file (plan-apply.test.ts uses them only for its unreachable-hosts case).
const HOSTS = ['lab-09', 'lab-10'];
const PATH_A = '/etc/motd.d/hostop-plan-a';
const PATH_B = '/etc/motd.d/hostop-plan-b';
const sh = (host: string, cmd: string) => labSsh(host, cmd).toString('utf8');
const git = (dir: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: dir });

const resources = (a: string, b: string) =>
  [fileResource('plan-a', HOSTS, PATH_A, a), fileResource('plan-b', HOSTS, PATH_B, b)].join('---\n');

/** Commits the desired state with these contents (a desired-state change as users make it). */
function commit(dir: string, a: string, b: string): void {
  writeDesiredState(dir, HOSTS, resources(a, b));
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', `a=${a.trim()} b=${b.trim()}`);
}

const contents = (path: string) => HOSTS.map((h) => sh(h, `cat ${path} 2>/dev/null || echo '<missing>'`));

describe('hostop plan --out / hostop apply FILE against lab hosts', () => {
  const dir = desiredState(HOSTS, resources('alpha 1\n', 'bravo 1\n'));
  const planFile = join(dir, '..', `${dir.split('/').pop()}.plan.json`);

  beforeAll(() => {
    for (const h of HOSTS) sh(h, `rm -rf /var/lib/hostop ${PATH_A} ${PATH_B}`);
    git(dir, 'init', '-q');
    commit(dir, 'alpha 1\n', 'bravo 1\n');
  });

  it('a saved plan applied unchanged converges; the file holds no contents and is 0600', async () => {
    const plan = await hostop(['plan', dir, '--out', planFile]);
    expect(plan.code, plan.stdout + plan.stderr).toBe(2);
    expect(plan.stderr).toContain(`Saved the plan to ${planFile}`);
    expect(statSync(planFile).mode & 0o777).toBe(0o600);
    const saved = readFileSync(planFile, 'utf8');
    expect(saved).not.toContain('alpha');
    expect(JSON.parse(saved).hosts.map((h: { changes: string[] }) => h.changes)).toEqual([
      [`create ${PATH_A}`, `create ${PATH_B}`],
      [`create ${PATH_A}`, `create ${PATH_B}`],
    ]);

    const apply = await hostop(['apply', planFile]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(/Apply: 2 host\(s\) converged/);
    expect(contents(PATH_A)).toEqual(['alpha 1\n', 'alpha 1\n']);
    expect(contents(PATH_B)).toEqual(['bravo 1\n', 'bravo 1\n']);
  });

  it('after a hand edit on one of its hosts the plan is refused, naming host and path, nothing written', async () => {
    commit(dir, 'alpha 2\n', 'bravo 1\n');
    const plan = await hostop(['plan', dir, '--out', planFile]);
    expect(plan.code, plan.stdout + plan.stderr).toBe(2);
    sh('lab-10', `echo edited by hand > ${PATH_B}`);

    const apply = await hostop(['apply', planFile]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(1);
    expect(apply.stderr).toContain(`hostop apply: ${planFile} no longer holds; nothing was applied:`);
    expect(apply.stderr).toContain(`host lab-10: changed since the plan was made: file ${PATH_B}`);
    expect(apply.stderr).not.toContain('host lab-09');
    // Not even the host that did not move got its change: the whole plan is refused before any write.
    expect(contents(PATH_A)).toEqual(['alpha 1\n', 'alpha 1\n']);
    expect(contents(PATH_B)).toEqual(['bravo 1\n', 'edited by hand\n']);

    // A new plan, reviewed, takes the hand edit into account and applies.
    expect((await hostop(['plan', dir, '--out', planFile])).code).toBe(2);
    const again = await hostop(['apply', planFile]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(contents(PATH_A)).toEqual(['alpha 2\n', 'alpha 2\n']);
    expect(contents(PATH_B)).toEqual(['bravo 1\n', 'bravo 1\n']);
  });

  it('after a desired-state commit the plan is refused, naming the file, nothing written', async () => {
    commit(dir, 'alpha 3\n', 'bravo 1\n');
    expect((await hostop(['plan', dir, '--out', planFile])).code).toBe(2);
    commit(dir, 'alpha 3\n', 'bravo 4\n');

    const apply = await hostop(['apply', planFile]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(1);
    expect(apply.stderr).toContain(
      `${join(dir, 'resources.yaml')} (changed): the desired state changed since the plan was made`,
    );
    expect(contents(PATH_A)).toEqual(['alpha 2\n', 'alpha 2\n']);
    expect(contents(PATH_B)).toEqual(['bravo 1\n', 'bravo 1\n']);
  });

  it('a file that is no plan is refused with its name', async () => {
    const bogus = join(dir, '..', `${dir.split('/').pop()}.bogus.json`);
    writeFileSync(bogus, '{"format": "terraform"}');
    const apply = await hostop(['apply', bogus]);
    expect(apply.code).toBe(1);
    expect(apply.stderr).toContain(`${bogus}: not a saved plan of this hostop`);
  });

  it('on a terminal apply shows the plan and asks: anything but "yes" applies nothing, "yes" applies', async () => {
    // The state now wants a3/b4 on both hosts (the last commit), which they do not have.
    const no = await onTerminal(['apply', dir], 'no');
    expect(no.code, no.output).toBe(1);
    expect(no.output).toContain(`~ update ${PATH_A} [content]`);
    expect(no.output).toContain('Apply these changes to 2 host(s)?');
    expect(no.output).toContain('Apply cancelled; nothing was applied.');
    expect(contents(PATH_A)).toEqual(['alpha 2\n', 'alpha 2\n']);

    const yes = await onTerminal(['apply', dir], 'yes');
    expect(yes.code, yes.output).toBe(0);
    expect(yes.output).toMatch(/Apply: 2 host\(s\) converged/);
    expect(contents(PATH_A)).toEqual(['alpha 3\n', 'alpha 3\n']);
    expect(contents(PATH_B)).toEqual(['bravo 4\n', 'bravo 4\n']);

    // --yes on a terminal: no question. In sync now, so nothing to do either way.
    const quiet = await onTerminal(['apply', dir, '--yes'], undefined);
    expect(quiet.code, quiet.output).toBe(0);
    expect(quiet.output).not.toContain('Enter a value');
  });
});

/**
 * Runs the CLI with a pseudo-terminal as its stdin, stdout and stderr (script(1) makes one and copies our pipe
 * into it), waits for the question, then types `answer` and Enter. Resolves with everything the terminal showed.
 */
function onTerminal(args: string[], answer: string | undefined): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const command = [process.execPath, HOSTOP_BIN, ...args].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qefc', command, '/dev/null'], {
      env: { ...process.env, NO_COLOR: '1', TERM: 'dumb' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    let asked = false;
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString('utf8');
      if (!asked && answer !== undefined && output.includes('Enter a value: ')) {
        asked = true;
        child.stdin.write(`${answer}\n`);
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString('utf8');
    });
    child.on('error', reject);
    // Without the progress line's carriage returns and erase-line, as a person reads the terminal.
    child.on('close', (code) =>
      resolve({ code: code ?? -1, output: output.replaceAll('\r', '').replaceAll('\x1b[K', '') }),
    );
  });
}
