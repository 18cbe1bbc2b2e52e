import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { metric, waitFor, withDaemon } from '../support/daemon.js';
import { desiredState, fileResource, hostop, startHostop, writeDesiredState } from '../support/fleet.js';
import { labSsh } from '../support/lab.js';

// Faults against real lab hosts: what hostop leaves behind when the world breaks mid-change.
// lab-16 … lab-24 belong to this file.
const sh = (host: string, cmd: string) => labSsh(host, cmd).toString('utf8');
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** The host's root filesystem as the machine sees it (the lab's overlay mount): watched without SSH. */
const rootOf = (host: string) => `/var/lib/hostop-lab/hosts/${host}/merged`;

/**
 * The processes of a host (those in its network namespace) whose /proc file `what` passes `test`: read from
 * /proc without spawning anything, so a kill can follow a trigger within a millisecond.
 */
function hostPids(host: string, what: 'cmdline' | 'status', test: (text: string) => boolean): number[] {
  const ns = `net:[${statSync(`/run/netns/hostop-${host}`).ino}]`;
  const out: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readlinkSync(`/proc/${pid}/ns/net`) === ns && test(readFileSync(`/proc/${pid}/${what}`, 'utf8')))
        out.push(Number(pid));
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

/** The SSH session processes of a host: hostop's connection (and any other client's). */
const sessionPids = (host: string) => hostPids(host, 'cmdline', (c) => c.startsWith('sshd: root@notty'));

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** The host's PID 1 (its systemd) as the machine sees it: the process of its namespace whose own PID is 1. */
function hostInit(host: string): number {
  const [pid] = hostPids(host, 'status', (st) => /^NSpid:\s+\d+\s+1$/m.test(st));
  if (pid === undefined) throw new Error(`no PID 1 found for ${host}`);
  return pid;
}

/** Runs argv inside a host without SSH (for when its sshd is down): nsenter into its namespaces. */
function inHost(host: string, argv: string[]): string {
  return execFileSync('nsenter', ['-t', String(hostInit(host)), '-m', '-u', '-i', '-p', '-n', ...argv], {
    encoding: 'utf8',
  });
}

/** A TCP server on :22 that prints the time of each accept and hangs up. */
const ACCEPT_AND_CLOSE = `require('net').createServer((s) => { console.log(Date.now()); s.destroy(); }).listen(22, '0.0.0.0', () => console.log('listening'));`;

/** Busy-waits (the CLI runs in its own process) until `cond` holds; false when `ms` passed first. */
function spinUntil(cond: () => boolean, ms: number): boolean {
  const until = Date.now() + ms;
  while (Date.now() < until) if (cond()) return true;
  return false;
}

function inode(path: string): number | undefined {
  try {
    return lstatSync(path).ino;
  } catch {
    return undefined;
  }
}

/** Resolves with the CLI's exit code and output once it exits. */
function finished(proc: ReturnType<typeof startHostop>): Promise<{ code: number | null; out: string }> {
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return new Promise((resolve) => proc.on('exit', (code) => resolve({ code, out })));
}

/** Printable content of about `bytes` bytes, different on every call (so old and new never match). */
function bigContent(bytes: number): string {
  return `${randomBytes(Math.ceil((bytes * 3) / 4))
    .toString('base64')
    .replace(/.{100}/g, '$&\n')}\n`;
}

describe('connection killed during an upload', () => {
  const HOST = 'lab-16';
  const DIR = '/etc/hostop-fault-upload';
  const N = 4;
  const paths = Array.from({ length: N }, (_, i) => `${DIR}/f${i}.txt`);
  // One File per YAML file: a desired-state file is at most 1 MiB.
  const write = (dir: string, contents: string[]) =>
    contents.forEach((c, i) =>
      writeFileSync(
        join(dir, i === 0 ? 'resources.yaml' : `big-${i}.yaml`),
        `apiVersion: hostop.dev/v1alpha1\nkind: File\nmetadata: { name: big-${i} }\n` +
          `spec:\n  hosts: [${HOST}]\n  path: ${paths[i]}\n  content: ${JSON.stringify(c)}\n`,
      ),
    );
  const observed = () => sh(HOST, `cd ${DIR} && sha256sum f*.txt; ls -A`).split('\n').filter(Boolean);

  async function setup(): Promise<{ dir: string; old: string[] }> {
    sh(HOST, `rm -rf /var/lib/hostop ${DIR}`);
    const old = paths.map(() => bigContent(200_000));
    const dir = desiredState([HOST], '# replaced below\n');
    write(dir, old);
    const first = await hostop(['apply', dir]);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    return { dir, old };
  }

  /** Every target holds exactly its old or its new bytes; never anything else (truncated, mixed). */
  function expectOldOrNew(old: string[], next: string[]): { old: number; new: number } {
    const seen = { old: 0, new: 0 };
    const lines = observed();
    paths.forEach((p, i) => {
      const line = lines.find((l) => l.endsWith(`  ${p.slice(DIR.length + 1)}`));
      const hash = line?.split(' ')[0];
      expect([sha(old[i]!), sha(next[i]!)], `${p} is neither old nor new`).toContain(hash);
      if (hash === sha(old[i]!)) seen.old++;
      else seen.new++;
    });
    return seen;
  }

  for (const when of ['while the temp files are written', 'while the targets are replaced'] as const) {
    it(`${when}: each target is old or new, never torn; the next pass cleans every temp file`, async () => {
      const { dir, old } = await setup();
      const next = paths.map(() => bigContent(200_000));
      write(dir, next);
      const firstTemp = `${rootOf(HOST)}${DIR}/.f0.txt.hostop-new`;
      const firstTarget = `${rootOf(HOST)}${paths[0]}`;
      const before = inode(firstTarget);
      // Session processes of earlier clients can linger a moment: the CLI's own connection is the new one.
      const earlier = new Set(sessionPids(HOST));
      const proc = startHostop(['apply', dir]);
      const done = finished(proc);
      const trigger =
        when === 'while the temp files are written'
          ? () => existsSync(firstTemp)
          : () => inode(firstTarget) !== before;
      const ours = () => sessionPids(HOST).filter((p) => !earlier.has(p));
      expect(
        spinUntil(() => ours().length > 0, 30_000),
        'hostop never connected',
      ).toBe(true);
      const pids = ours();
      expect(spinUntil(trigger, 60_000), 'the apply never reached the moment to cut').toBe(true);
      killAll(pids);
      const res = await done;
      expect(res.code, res.out).toBe(1);
      expect(res.out).toMatch(/ConnectionLost|ChannelClosed|connection lost/i);
      await new Promise((r) => setTimeout(r, 500)); // the orphaned remote shell ends at its next write
      const seen = expectOldOrNew(old, next);
      if (when === 'while the temp files are written') expect(seen.new).toBe(0);

      // The next pass, with the desired state reverted so nothing needs to be written: stale temps still go.
      write(dir, old);
      const revert = await hostop(['apply', dir]);
      expect(revert.code, revert.stdout + revert.stderr).toBe(0);
      expect(observed().filter((l) => l.includes('hostop-new'))).toEqual([]);
      expectOldOrNew(old, old);
      if (when === 'while the temp files are written') return; // the other moment also checks the way forward
      // And forward again: converged, still nothing left over.
      write(dir, next);
      expect((await hostop(['apply', dir])).code).toBe(0);
      expect(expectOldOrNew(old, next).new).toBe(N);
      expect(observed().filter((l) => l.includes('hostop-new'))).toEqual([]);
      expect((await hostop(['plan', dir])).code).toBe(0);
    });
  }
});

const file = fileResource;

/** How often systemd started `unit` on `host` since `sinceEpoch` (seconds), from the host's journal. */
function starts(host: string, unit: string, sinceEpoch: number): number {
  return sh(host, `journalctl -u ${unit} -o cat --since @${sinceEpoch} | grep -c '^Started ' || true`)
    .trim()
    .split('\n')
    .map(Number)[0]!;
}

describe('host disk full', () => {
  const HOST = 'lab-17';
  const DIR = '/etc/hostop-fault-full';
  it('a write that does not fit: a clear error, the old file intact, no temp file; converges once there is room', async () => {
    sh(HOST, `umount ${DIR} 2>/dev/null; rm -rf /var/lib/hostop ${DIR}; mkdir -p ${DIR}`);
    // mode=755: a tmpfs root is 1777 by default, a directory others can write, where hostop refuses to write.
    sh(HOST, `mount -t tmpfs -o size=64k,mode=755 hostop-full ${DIR}`);
    try {
      const ds = desiredState([HOST], file('full', [HOST], `${DIR}/app.conf`, 'old\n'));
      expect((await hostop(['apply', ds])).code).toBe(0);
      sh(HOST, `cat /dev/zero > ${DIR}/filler 2>/dev/null; true`);
      const big = 'x'.repeat(32 * 1024);
      writeDesiredState(ds, [HOST], file('full', [HOST], `${DIR}/app.conf`, big));
      const apply = await hostop(['apply', ds]);
      expect(apply.code).toBe(1);
      expect(apply.stdout).toMatch(
        /could not write \/etc\/hostop-fault-full\/app\.conf: .*No space left on device/,
      );
      expect(sh(HOST, `cat ${DIR}/app.conf`)).toBe('old\n');
      expect(sh(HOST, `ls -A ${DIR}`).split('\n').filter(Boolean).sort()).toEqual(['app.conf', 'filler']);
      sh(HOST, `rm ${DIR}/filler`);
      expect((await hostop(['apply', ds])).code).toBe(0);
      expect(sh(HOST, `cat ${DIR}/app.conf`)).toBe(big);
    } finally {
      sh(HOST, `umount ${DIR}; rm -rf ${DIR}`);
    }
  });
});

describe('a validator that hangs', () => {
  const HOST = 'lab-21';
  const PATH = '/etc/hostop-fault-hang/config.yaml';
  const collector = (exporter: string) =>
    `receivers: {otlp: {protocols: {grpc: {}}}}\nexporters: {${exporter}: {}}\n` +
    `service: {pipelines: {traces: {receivers: [otlp], exporters: [${exporter}]}}}\n`;
  const validated = (content: string) =>
    file(
      'hang',
      [HOST],
      PATH,
      content,
      '  validate: { argv: [/usr/bin/otelcol-contrib, validate, "--config={}"], timeoutSeconds: 2 }',
    );

  it('is killed at its deadline: the old config stays, nothing is left running or staged', async () => {
    sh(HOST, 'rm -rf /var/lib/hostop /etc/hostop-fault-hang /etc/hostop-standin/otelcol-validate.hang');
    const ds = desiredState([HOST], validated(collector('debug')));
    expect((await hostop(['apply', ds])).code).toBe(0);
    sh(HOST, 'touch /etc/hostop-standin/otelcol-validate.hang');
    try {
      writeDesiredState(ds, [HOST], validated(collector('nop')));
      const started = Date.now();
      const apply = await hostop(['apply', ds]);
      const took = Date.now() - started;
      expect(apply.code).toBe(1);
      expect(apply.stdout).toContain('validation-failed');
      expect(apply.stdout).toContain('validator timed out after 2000 ms');
      // 2 s deadline + 2 s grace for the kill (timeout -k 2) + the CLI's own work, with room for a loaded
      // machine: the validator hangs forever, so an apply that ends at all was ended by the deadline (the
      // message above names it).
      expect(took).toBeLessThan(30_000);
      expect(sh(HOST, `cat ${PATH}`)).toBe(collector('debug'));
      expect(sh(HOST, 'ls -A /etc/hostop-fault-hang')).toBe('config.yaml\n');
      // `[v]`: the pattern must not match the shell that runs pgrep.
      expect(sh(HOST, "pgrep -af 'otelcol-contrib [v]alidate' || echo none").trim()).toBe('none');
    } finally {
      sh(HOST, 'rm -f /etc/hostop-standin/otelcol-validate.hang');
    }
    expect((await hostop(['apply', ds])).code).toBe(0);
    expect(sh(HOST, `cat ${PATH}`)).toBe(collector('nop'));
  });
});

describe('a service that never becomes healthy', () => {
  const HOST = 'lab-22';
  const tempo = (
    content: string,
  ) => `${file('tempo-config', [HOST], '/etc/tempo/config.yml', content, '  notify: [tempo.service]\n')}---
apiVersion: hostop.dev/v1alpha1
kind: Service
metadata: { name: tempo }
spec:
  hosts: [${HOST}]
  unit: tempo.service
  state: running
  onChange: restart
  health: { http: { url: "http://127.0.0.1:3200/ready", expectStatus: 200 }, timeoutSeconds: 4 }
`;
  const good = 'server: { http_listen_port: 3200 }\n';

  it('is rolled back within its deadline, and the daemon does not retry the change in a restart loop', async () => {
    sh(HOST, 'rm -rf /var/lib/hostop');
    const ds = desiredState([HOST], tempo(good));
    // Resyncs come from SIGHUP below, one at a time after the previous pass ended, so the test counts exactly
    // three passes that each could have retried the failed change.
    await withDaemon(ds, ['--resync', '60s'], async (d) => {
      await waitFor('ready', async () => (await fetch(`${d.url}/readyz`)).status === 200, 60_000);
      expect(sh(HOST, 'cat /etc/tempo/config.yml')).toBe(good);
      // Counted from a baseline: journalctl's --since has whole seconds, so the start of the first convergence
      // may fall in the same second (seen once under load: 3 instead of 2).
      const since = Math.floor(Date.now() / 1000) - 1;
      const baseline = starts(HOST, 'tempo.service', since);
      const changed = Date.now();
      writeDesiredState(ds, [HOST], tempo('no_server_block: true\n'));
      await waitFor(
        'rolled back',
        async () => ((await metric(d.url, 'hostop_rollbacks_total', { host: HOST })) ?? 0) > 0,
        60_000,
        100,
      );
      // Deadline 4 s, plus two restarts and the watcher's debounce, with room for a loaded machine.
      expect(Date.now() - changed).toBeLessThan(4000 + 30_000);
      expect(sh(HOST, 'cat /etc/tempo/config.yml')).toBe(good);
      expect(sh(HOST, 'systemctl is-active tempo').trim()).toBe('active');
      const afterRollback = starts(HOST, 'tempo.service', since) - baseline;
      expect(afterRollback).toBe(2); // the change, then the rollback
      for (let i = 0; i < 3; i++) {
        const before = await passes(d.url);
        d.proc.kill('SIGHUP'); // a resync: every host is enqueued
        await waitFor('resync pass', async () => (await passes(d.url)) > before, 30_000, 100);
      }
      // The failed change is stalled at its revision, not retried: no third restart.
      expect(starts(HOST, 'tempo.service', since) - baseline).toBe(2);
      expect(sh(HOST, 'cat /etc/tempo/config.yml')).toBe(good);
      const status = (await (await fetch(`${d.url}/status`)).json()) as { events: { reason: string }[] };
      expect(status.events.some((e) => e.reason === 'RolledBack')).toBe(true);
    });
  });
});

describe('sshd stopped and restarted on a host', () => {
  const HOST = 'lab-20';
  it('the host is marked down, reconnects back off exponentially, and it reconverges once sshd is back', async () => {
    sh(HOST, 'rm -rf /var/lib/hostop /etc/hostop-fault-sshd');
    const ds = desiredState([HOST], file('sshd', [HOST], '/etc/hostop-fault-sshd', 'a\n'));
    await withDaemon(ds, ['--resync', '2s', '--probe-timeout', '4s'], async (d) => {
      await waitFor('ready', async () => (await fetch(`${d.url}/readyz`)).status === 200, 60_000);
      let listener: ReturnType<typeof spawn> | undefined;
      try {
        inHost(HOST, ['systemctl', 'stop', 'ssh.service']);
        // Port 22 now answers and hangs up at once, like an sshd dying at accept: each accept is one reconnect
        // attempt of hostop, timed exactly. Then the daemon's connection is cut.
        const accepts: number[] = [];
        let listening = false;
        listener = spawn('ip', ['netns', 'exec', `hostop-${HOST}`, process.execPath, '-e', ACCEPT_AND_CLOSE]);
        listener.stdout!.on('data', (b: Buffer) => {
          for (const line of b.toString().split('\n').filter(Boolean)) {
            if (line === 'listening') listening = true;
            else accepts.push(Number(line));
          }
        });
        await waitFor('listener', () => listening, 20_000, 50);
        killAll(sessionPids(HOST));
        writeDesiredState(ds, [HOST], file('sshd', [HOST], '/etc/hostop-fault-sshd', 'b\n'));
        await waitFor(
          'marked down',
          async () => (await metric(d.url, 'hostop_host_up', { host: HOST })) === 0,
          20_000,
        );
        const status = (await (await fetch(`${d.url}/status`)).json()) as {
          hosts: { host: string; reachable: boolean }[];
        };
        expect(status.hosts.find((h) => h.host === HOST)?.reachable).toBe(false);
        await new Promise((r) => setTimeout(r, 15_000));
        listener.kill();
        // Passes keep coming (every resync), but real connection attempts back off: 1, 2, 4, 8 s (with jitter).
        const passes = d.logs.filter(
          (l) => l.msg === 'pass failed; retrying with backoff' && l.host === HOST,
        );
        const gaps = accepts.slice(1).map((t, i) => t - accepts[i]!);
        const why = `attempts ${accepts.length}, passes ${passes.length}, gaps ${JSON.stringify(gaps)}`;
        expect(accepts.length, why).toBeGreaterThanOrEqual(3);
        expect(accepts.length, why).toBeLessThan(passes.length);
        // Exponential: the delays outgrow the 2 s resync cadence; linear retries would keep every gap near 2 s.
        expect(Math.max(...gaps), why).toBeGreaterThanOrEqual(3500);
        expect(Math.max(...gaps), why).toBeGreaterThanOrEqual(2 * Math.min(...gaps));
      } finally {
        listener?.kill();
        inHost(HOST, ['systemctl', 'start', 'ssh.service']);
      }
      // The pool's delay can have grown to 16–32 s by now.
      await waitFor(
        'back up',
        async () => (await metric(d.url, 'hostop_host_up', { host: HOST })) === 1,
        60_000,
        250,
      );
      await waitFor('reconverged', () => sh(HOST, 'cat /etc/hostop-fault-sshd') === 'b\n', 20_000, 250);
    });
  });
});

describe('the daemon killed with SIGKILL mid-rollout, then restarted', () => {
  const HOSTS = ['lab-18', 'lab-19'];
  const DIR = '/etc/hostop-fault-kill';
  const resources = (content: string) =>
    `${file('app-conf', HOSTS, `${DIR}/app.conf`, content, '  notify: [billing-api.service]\n')}---
apiVersion: hostop.dev/v1alpha1
kind: Service
metadata: { name: billing-api }
spec:
  hosts: [${HOSTS.join(', ')}]
  unit: billing-api.service
  state: running
  onChange: restart
  health: { http: { url: "http://127.0.0.1:8002/health", expectStatus: 200 }, timeoutSeconds: 10 }
`;

  it('converges with at most one extra restart per unit and no stale temp files', async () => {
    for (const h of HOSTS) sh(h, `rm -rf /var/lib/hostop ${DIR}`);
    const ds = desiredState(HOSTS, resources('v1\n'));
    const stateDir = mkdtempSync(join(tmpdir(), 'hostop-state-'));
    await withDaemon(
      ds,
      ['--resync', '60s'],
      async (d) => {
        await waitFor('ready', async () => (await fetch(`${d.url}/readyz`)).status === 200, 60_000);
        // Counted from a baseline, as for tempo above: journalctl's --since has whole seconds, so a restart of
        // the first convergence may fall in the same second.
        const since = Math.floor(Date.now() / 1000) - 1;
        const baseline = new Map(HOSTS.map((h) => [h, starts(h, 'billing-api.service', since)]));
        const targets = HOSTS.map((h) => `${rootOf(h)}${DIR}/app.conf`);
        const before = targets.map(inode);
        writeDesiredState(ds, HOSTS, resources('v2\n'));
        // Cut the daemon the moment a host's target is replaced: its activate script is on the host, mid-run.
        expect(spinUntil(() => targets.some((t, i) => inode(t) !== before[i]), 60_000)).toBe(true);
        const killed = new Promise((r) => d.proc.once('exit', (_code, signal) => r(signal)));
        d.proc.kill('SIGKILL');
        expect(await killed).toBe('SIGKILL');
        await new Promise((r) => setTimeout(r, 1000)); // whatever the host still runs of it finishes
        await withDaemon(
          ds,
          ['--resync', '60s'],
          async (again) => {
            await waitFor(
              'ready again',
              async () => (await fetch(`${again.url}/readyz`)).status === 200,
              60_000,
            );
            for (const h of HOSTS) {
              expect(sh(h, `cat ${DIR}/app.conf`)).toBe('v2\n');
              expect(sh(h, `ls -A ${DIR}`)).toBe('app.conf\n');
              expect(sh(h, 'systemctl is-active billing-api').trim()).toBe('active');
              // Restarted for v2 (else it runs the old config), and at most once more because of the crash.
              const n = starts(h, 'billing-api.service', since) - baseline.get(h)!;
              expect(n, `${h} restarts`).toBeGreaterThanOrEqual(1);
              expect(n, `${h} restarts`).toBeLessThanOrEqual(2);
            }
          },
          stateDir,
        );
      },
      stateDir,
    );
  });
});

describe('50 desired-state commits in quick succession', () => {
  const HOSTS = ['lab-23', 'lab-24'];
  const PATH = '/etc/hostop-fault-commits';
  it('are coalesced: the queue stays within the host count and the final commit is what the hosts get', async () => {
    for (const h of HOSTS) sh(h, `rm -rf /var/lib/hostop ${PATH}`);
    const ds = desiredState(HOSTS, file('commits', HOSTS, PATH, 'v0\n'));
    const git = (...args: string[]) => run('git', ['-C', ds, ...args]);
    await git('init', '-q');
    await git('add', '.');
    await git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'v0');
    await withDaemon(ds, ['--resync', '60s'], async (d) => {
      await waitFor('ready', async () => (await fetch(`${d.url}/readyz`)).status === 200, 60_000);
      const passesBefore = await passes(d.url);
      let sampling = true;
      const depths: number[] = [];
      const sampler = (async () => {
        while (sampling) {
          depths.push((await metric(d.url, 'hostop_workqueue_depth')) ?? 0);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      // One shell runs the 50 commits back to back (a process per commit from here would pace them).
      const resources = readFileSync(join(ds, 'resources.yaml'), 'utf8');
      const commits = Array.from({ length: 50 }, (_, i) => {
        const text = resources.replace('"v0\\n"', `"v${i + 1}\\n"`);
        return `printf '%s' ${shQuote(text)} > resources.yaml && git -c user.name=t -c user.email=t@t commit -qam v${i + 1}`;
      });
      const started = Date.now();
      await run('sh', ['-c', `cd ${shQuote(ds)} && ${commits.join(' && ')}`]);
      const commitMs = Date.now() - started;
      const head = (await git('rev-parse', 'HEAD')).trim();
      await waitFor(
        'final commit everywhere',
        () => HOSTS.every((h) => sh(h, `cat ${PATH}`) === 'v50\n'),
        60_000,
        250,
      );
      await waitFor(
        'revision in force',
        async () => (await metric(d.url, 'hostop_desired_state_info', { revision: head })) === 1,
        20_000,
      );
      sampling = false;
      await sampler;
      expect(depths.length).toBeGreaterThanOrEqual(5);
      expect(Math.max(...depths)).toBeLessThanOrEqual(HOSTS.length);
      expect((await metric(d.url, 'hostop_workqueue_depth')) ?? 0).toBe(0);
      // Coalesced: fewer passes than commits x hosts (each pass takes the newest snapshot, whatever came since).
      const made = (await passes(d.url)) - passesBefore;
      expect(made).toBeGreaterThanOrEqual(HOSTS.length);
      expect(made, `${made} passes for 50 commits made in ${commitMs} ms`).toBeLessThan(50);
      // A commit that changes no file (the watch on HEAD's reflog sees it, not the one on the directory): the
      // revision in force follows it well before the next resync (60 s).
      await git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'empty');
      const empty = (await git('rev-parse', 'HEAD')).trim();
      await waitFor(
        'the empty commit in force',
        async () => (await metric(d.url, 'hostop_desired_state_info', { revision: empty })) === 1,
        20_000,
      );
    });
  });
});

/** Runs a command without blocking the event loop (so metrics can be sampled meanwhile); resolves with stdout. */
function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { encoding: 'utf8' }, (err, out) => (err ? reject(err) : resolve(out))),
  );
}

const shQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** Reconcile passes so far, over every result. */
async function passes(url: string): Promise<number> {
  let sum = 0;
  for (const result of ['success', 'drifted', 'error', 'rolled_back'])
    sum += (await metric(url, 'hostop_reconcile_total', { result })) ?? 0;
  return sum;
}
