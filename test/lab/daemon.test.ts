import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningDaemon, metric, startDaemon, waitFor } from '../support/daemon.js';
import { desiredState, fileResource, hostop, writeDesiredState } from '../support/fleet.js';
import { labHost, labSsh } from '../support/lab.js';

// The long-running reconciler against real lab hosts (lab-11 … lab-15 belong to this file).
const HOSTS = ['lab-11', 'lab-12', 'lab-13'];
const sh = (host: string, cmd: string) => labSsh(host, cmd).toString('utf8');
const file = fileResource;
const status = async (url: string) =>
  (await (await fetch(`${url}/status`)).json()) as {
    hosts: { host: string; reachable: boolean; lastProbeTime: string }[];
    desiredState: { valid: boolean };
    events: { reason: string; host?: string; name?: string }[];
  };

describe('hostop run (enforce)', () => {
  let daemon: RunningDaemon;
  const resources = (motd: string) =>
    [
      file('motd', HOSTS, '/etc/hostop-daemon-test', motd),
      file('only-12', ['lab-12'], '/etc/hostop-daemon-only', 'x\n'),
    ].join('---\n');
  const dir = desiredState(HOSTS, resources('v1\n'));

  beforeAll(async () => {
    for (const h of HOSTS) sh(h, 'rm -rf /var/lib/hostop /etc/hostop-daemon-test /etc/hostop-daemon-only');
    daemon = await startDaemon(dir, ['--resync', '3s']);
  });
  afterAll(async () => {
    expect(await daemon.stop()).toBe(0);
  });

  it('converges the hosts and becomes ready', async () => {
    await waitFor('readyz', async () => (await fetch(`${daemon.url}/readyz`)).status === 200);
    for (const h of HOSTS) expect(sh(h, 'cat /etc/hostop-daemon-test')).toBe('v1\n');
    for (const h of HOSTS) expect(await metric(daemon.url, 'hostop_host_up', { host: h })).toBe(1);
    expect(await metric(daemon.url, 'hostop_desired_state_valid')).toBe(1);
    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
  });

  it('a desired-state edit reaches the affected host only', async () => {
    const before = await status(daemon.url);
    const probe = (s: Awaited<ReturnType<typeof status>>, h: string) =>
      s.hosts.find((x) => x.host === h)!.lastProbeTime;
    // Change only the resource that lab-12 alone has; with the resync at 3 s, check right after convergence.
    writeFileSync(
      join(dir, 'resources.yaml'),
      [
        file('motd', HOSTS, '/etc/hostop-daemon-test', 'v1\n'),
        file('only-12', ['lab-12'], '/etc/hostop-daemon-only', 'y\n'),
      ].join('---\n'),
    );
    await waitFor(
      'lab-12 converged',
      () => sh('lab-12', 'cat /etc/hostop-daemon-only') === 'y\n',
      10_000,
      100,
    );
    // The file lands before the pass's verifying probe is recorded: wait for that record, not for a proxy.
    await waitFor(
      'lab-12 probed again',
      async () => probe(await status(daemon.url), 'lab-12') !== probe(before, 'lab-12'),
      10_000,
      100,
    );
    // The others were not probed for the edit (only the resync tick may have touched them).
    const edits = daemon.logs.filter((l) => l.msg === 'desired state loaded' && (l.enqueued as number) > 0);
    expect(edits.at(-1)!.enqueued).toBe(1);
    // A roll-out, not drift: an Applied event, and no correction counted (no HostopDriftRecurring from commits).
    const events = await waitFor('Applied event', async () => {
      const mine = (await status(daemon.url)).events.filter(
        (e) => e.host === 'lab-12' && e.name === 'only-12',
      );
      return mine.length > 0 && mine;
    });
    expect((events || []).map((e) => e.reason)).toEqual(['Applied']);
    expect(await metric(daemon.url, 'hostop_drift_corrections_total', { host: 'lab-12', kind: 'File' })).toBe(
      undefined,
    );
  });

  it('a file edited by hand is detected at the next resync, restored, and counted as a correction', async () => {
    const corrections =
      (await metric(daemon.url, 'hostop_drift_corrections_total', { host: 'lab-13', kind: 'File' })) ?? 0;
    sh('lab-13', 'echo tampered > /etc/hostop-daemon-test');
    await waitFor('restored', () => sh('lab-13', 'cat /etc/hostop-daemon-test') === 'v1\n', 15_000, 250);
    await waitFor(
      'correction counted',
      async () =>
        ((await metric(daemon.url, 'hostop_drift_corrections_total', { host: 'lab-13', kind: 'File' })) ??
          0) > corrections,
    );
    expect(
      await metric(daemon.url, 'hostop_resource_drifted', { host: 'lab-13', kind: 'File', name: 'motd' }),
    ).toBe(0);
    expect(
      (await status(daemon.url)).events.some((e) => e.reason === 'DriftCorrected' && e.host === 'lab-13'),
    ).toBe(true);
  });

  it('hostop status shows conditions per host and resource from the running daemon', async () => {
    const r = await hostop(['status', '--url', daemon.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Desired state: valid/);
    expect(r.stdout).toMatch(/lab-12\s+File\s+only-12\s+True\s+False\s+Converged/);
    expect(r.stdout).toContain('Hosts: 3/3 reachable');
    expect(r.stdout).toContain('DriftCorrected');
  });

  it('a broken YAML commit: desired state invalid, hosts untouched; the fix resumes convergence', async () => {
    writeFileSync(join(dir, 'resources.yaml'), `${resources('v2\n')}\n  broken: [unclosed\n`);
    await waitFor(
      'invalid',
      async () => (await metric(daemon.url, 'hostop_desired_state_valid')) === 0,
      10_000,
    );
    await new Promise((r) => setTimeout(r, 4000)); // a resync passes with the broken file in place
    for (const h of HOSTS) expect(sh(h, 'cat /etc/hostop-daemon-test')).toBe('v1\n');
    expect((await status(daemon.url)).desiredState.valid).toBe(false);
    writeDesiredState(dir, HOSTS, resources('v2\n'));
    await waitFor(
      'valid again',
      async () => (await metric(daemon.url, 'hostop_desired_state_valid')) === 1,
      10_000,
    );
    await waitFor(
      'v2 everywhere',
      () => HOSTS.every((h) => sh(h, 'cat /etc/hostop-daemon-test') === 'v2\n'),
      15_000,
      250,
    );
  });
});

describe('hostop run (detect)', () => {
  it('reports drift and leaves it in place', async () => {
    sh('lab-14', 'rm -rf /var/lib/hostop; echo v1 > /etc/hostop-detect-test');
    const dir = desiredState(['lab-14'], file('detect', ['lab-14'], '/etc/hostop-detect-test', 'v1\n'));
    const d = await startDaemon(dir, ['--mode', 'detect', '--resync', '2s']);
    try {
      await waitFor('ready', async () => (await fetch(`${d.url}/readyz`)).status === 200);
      expect(
        await metric(d.url, 'hostop_resource_drifted', { host: 'lab-14', kind: 'File', name: 'detect' }),
      ).toBe(0);
      sh('lab-14', 'echo tampered > /etc/hostop-detect-test');
      await waitFor(
        'drifted',
        async () =>
          (await metric(d.url, 'hostop_resource_drifted', {
            host: 'lab-14',
            kind: 'File',
            name: 'detect',
          })) === 1,
        10_000,
      );
      await new Promise((r) => setTimeout(r, 2500));
      expect(sh('lab-14', 'cat /etc/hostop-detect-test')).toBe('tampered\n');
      expect(await metric(d.url, 'hostop_reconcile_total', { result: 'drifted' })).toBeGreaterThan(0);
    } finally {
      expect(await d.stop()).toBe(0);
    }
    // The status survives the daemon: read offline from its state directory.
    const r = await hostop(['status', '--state-dir', d.stateDir, '-o', 'json']);
    const snap = JSON.parse(r.stdout) as {
      resources: { host: string; conditions: { type: string; status: string }[] }[];
    };
    const drifted = snap.resources
      .find((x) => x.host === 'lab-14')!
      .conditions.find((c) => c.type === 'Drifted');
    expect(drifted?.status).toBe('True');
  });
});

describe('hostop run --git-pull: a commit pushed to the remote', () => {
  it('is fetched, fast-forwarded and converged, and its SHA is the revision in force', async () => {
    const HOST = 'lab-14';
    sh(HOST, 'rm -rf /var/lib/hostop /etc/hostop-gitops-test');
    const tmp = mkdtempSync(join(tmpdir(), 'hostop-gitops-'));
    const [remote, author, checkout] = ['remote.git', 'author', 'checkout'].map((n) => join(tmp, n)) as [
      string,
      string,
      string,
    ];
    const git = (cwd: string, ...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], {
        cwd,
        encoding: 'utf8',
      }).trim();
    const push = (content: string) => {
      writeDesiredState(author, [HOST], file('gitops', [HOST], '/etc/hostop-gitops-test', content));
      git(author, 'add', '-A');
      git(author, 'commit', '-qm', content.trim());
      git(author, 'push', '-q', 'origin', 'HEAD:main');
      return git(author, 'rev-parse', 'HEAD');
    };
    git(tmp, 'init', '-q', '--bare', '-b', 'main', remote);
    git(tmp, 'clone', '-q', remote, author);
    const first = push('one\n');
    git(tmp, 'clone', '-q', remote, checkout);

    const d = await startDaemon(checkout, ['--git-pull', '1s', '--resync', '60s']);
    try {
      const converged = (content: string, revision: string) =>
        waitFor(
          `${content.trim()} at ${revision}`,
          async () =>
            sh(HOST, 'cat /etc/hostop-gitops-test 2>/dev/null || true') === content &&
            (await metric(d.url, 'hostop_desired_state_info', { revision })) === 1,
          20_000,
          200,
        );
      await converged('one\n', first);
      const second = push('two\n');
      expect(second).not.toBe(first);
      await converged('two\n', second);
      // A local edit in the checkout is in force too, and says so.
      writeDesiredState(checkout, [HOST], file('gitops', [HOST], '/etc/hostop-gitops-test', 'local\n'));
      await converged('local\n', `${second}-dirty`);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});

describe('hostop run: a host going down', () => {
  it('marks it down, backs off, keeps the others going, and converges it when it is back', async () => {
    const veth = `hostopv${labHost('lab-15').address.split('.').pop()}`;
    for (const h of ['lab-11', 'lab-15']) sh(h, 'rm -rf /var/lib/hostop /etc/hostop-down-test');
    const dir = desiredState(
      ['lab-11', 'lab-15'],
      file('down', ['lab-11', 'lab-15'], '/etc/hostop-down-test', 'a\n'),
    );
    const d = await startDaemon(dir, ['--resync', '2s', '--probe-timeout', '4s']);
    try {
      await waitFor('ready', async () => (await fetch(`${d.url}/readyz`)).status === 200);
      execFileSync('ip', ['link', 'set', veth, 'down']);
      writeDesiredState(
        dir,
        ['lab-11', 'lab-15'],
        file('down', ['lab-11', 'lab-15'], '/etc/hostop-down-test', 'b\n'),
      );
      await waitFor(
        'lab-15 down',
        async () => (await metric(d.url, 'hostop_host_up', { host: 'lab-15' })) === 0,
        40_000,
      );
      await waitFor(
        'lab-11 converged meanwhile',
        () => sh('lab-11', 'cat /etc/hostop-down-test') === 'b\n',
        10_000,
      );
      expect(d.logs.some((l) => l.msg === 'pass failed; retrying with backoff' && l.host === 'lab-15')).toBe(
        true,
      );
      execFileSync('ip', ['link', 'set', veth, 'up']);
      await waitFor(
        'lab-15 back up',
        async () => (await metric(d.url, 'hostop_host_up', { host: 'lab-15' })) === 1,
        60_000,
        500,
      );
      await waitFor('lab-15 converged', () => sh('lab-15', 'cat /etc/hostop-down-test') === 'b\n', 20_000);
    } finally {
      execFileSync('ip', ['link', 'set', veth, 'up']);
      expect(await d.stop()).toBe(0);
    }
  });
});

describe('hostop run: SIGTERM during a rollout', () => {
  it('finishes in-flight hosts, starts no new ones, exits 0, and leaves no half-applied host', async () => {
    const hosts = ['lab-32', 'lab-33', 'lab-34', 'lab-35'];
    for (const h of hosts)
      sh(h, 'rm -rf /var/lib/hostop; echo old > /etc/hostop-sigterm-a; echo old > /etc/hostop-sigterm-b');
    // Two files per host, each validated by a slow validator: a host's apply takes ~3 s, two hosts at a time.
    const slow = (name: string, path: string) =>
      file(
        name,
        hosts,
        path,
        'new\n',
        '  validate: { argv: [/bin/sh, -c, "sleep 3; grep -q new \\"$1\\"", v, "{}"], timeoutSeconds: 20 }\n',
      );
    const dir = desiredState(
      hosts,
      `${slow('a', '/etc/hostop-sigterm-a')}---\n${slow('b', '/etc/hostop-sigterm-b')}`,
    );
    const d = await startDaemon(dir, ['--concurrency', '2', '--resync', '1h', '--shutdown-grace', '30s']);
    // The first two hosts are mid-apply: in their validators (`[s]`: the pattern must not match the shell
    // that runs pgrep).
    await waitFor(
      'two hosts in their validators',
      () => hosts.filter((h) => sh(h, "pgrep -fc '[s]leep 3; grep' || true").trim() !== '0').length === 2,
      60_000,
      100,
    );
    const code = await d.stop('SIGTERM');
    expect(code).toBe(0);
    let converged = 0;
    for (const h of hosts) {
      const a = sh(h, 'cat /etc/hostop-sigterm-a');
      const b = sh(h, 'cat /etc/hostop-sigterm-b');
      // Per host: both files old (never started) or both new (finished) — never one of each, never torn.
      expect([a, b]).toSatisfy(
        ([x, y]: string[]) => (x === 'old\n' && y === 'old\n') || (x === 'new\n' && y === 'new\n'),
      );
      if (a === 'new\n') converged++;
      expect(sh(h, 'ls -a /etc')).not.toContain('hostop-new');
    }
    // The in-flight hosts finished; the rest were not started after the signal.
    expect(converged).toBe(2);
    expect(d.logs.some((l) => l.msg === 'stopping: no new work, waiting for in-flight passes')).toBe(true);
  });
});
