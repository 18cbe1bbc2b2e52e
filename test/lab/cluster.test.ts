import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningDaemon, metric, startDaemon, waitFor, withDaemon } from '../support/daemon.js';
import { type EtcdCluster, type TestTls, makeTestTls, startEtcdCluster } from '../support/etcd.js';
import { desiredState, fileResource, hostop, writeDesiredState } from '../support/fleet.js';
import { labSsh } from '../support/lab.js';

// Several daemons sharing one fleet through a real etcd cluster (issue 17): Debian's etcd-server, three members
// on loopback started by this file; three `hostop run` over lab-71 … lab-100, which belong to this file.
// The hosts' own record of who wrote to them is the fence log each fenced script appends to, under the host lock
// (`TIME TOKEN MEMBER OP EPOCH`, apply-scripts.ts fenceCheck).
const HOSTS = Array.from({ length: 30 }, (_, i) => `lab-${71 + i}`);
const PATH = '/etc/hostop-cluster/app.conf';
const MEMBERS = ['m0', 'm1', 'm2'];
const TTL_S = 6;
const sh = (host: string, cmd: string) => labSsh(host, cmd).toString('utf8');
const content = (v: string) => `cluster: ${v}\n`;
const resources = (v: string) => fileResource('cluster-app', HOSTS, PATH, content(v));
/** The version the desired state holds now (the pause test moves it on). */
let version = 'v1';

interface FleetStatus {
  coordination: { member: string; enforcing: boolean; members: string[]; owned: number; unowned: string[] };
  hosts: { host: string; owner?: string; reachable: boolean }[];
  resources: { host: string; conditions: { type: string; status: string }[] }[];
}
const statusOf = async (d: RunningDaemon) => (await (await fetch(`${d.url}/status`)).json()) as FleetStatus;
/** The same, undefined while the daemon does not answer (just woken from SIGSTOP: its idle sockets reset). */
const statusNow = (d: RunningDaemon) => statusOf(d).catch(() => undefined);

interface FenceLine {
  time: number;
  token: bigint;
  member: string;
  op: string;
  /** The fencing epoch the token belongs to (the fleet's etcd data history). */
  epoch: string;
}
function fenceLog(host: string): FenceLine[] {
  return sh(host, 'cat /var/lib/hostop/fence.log 2>/dev/null || true')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [time, token, member, op, epoch] = l.split(' ');
      return { time: Number(time), token: BigInt(token!), member: member!, op: op!, epoch: epoch! };
    });
}

/**
 * No host was ever written to by two daemons at once: in each host's log the tokens never go down, and each
 * token (one claim) belongs to one member.
 */
function assertOneWriterAtATime(): Map<string, FenceLine[]> {
  const logs = new Map<string, FenceLine[]>();
  for (const h of HOSTS) {
    const log = fenceLog(h);
    logs.set(h, log);
    const byToken = new Map<bigint, string>();
    log.forEach((l, i) => {
      const prev = log[i - 1];
      if (prev?.epoch === l.epoch)
        expect(l.token >= prev.token, `${h}: token went down at line ${i + 1}`).toBe(true);
      expect(byToken.get(l.token) ?? l.member, `${h}: token ${l.token} used by two members`).toBe(l.member);
      byToken.set(l.token, l.member);
    });
  }
  return logs;
}

const hostFile = (h: string) => sh(h, `cat ${PATH} 2>/dev/null || echo missing`);

describe('several daemons on etcd', () => {
  let etcd: EtcdCluster;
  let dir: string;
  const daemons = new Map<string, RunningDaemon>();
  const args = (m: string) => [
    '--etcd-endpoints',
    etcd.endpoints.join(','),
    '--member',
    m,
    '--log-level',
    'debug',
    '--etcd-lease-ttl',
    `${TTL_S}s`,
  ];
  const start = async (m: string) => {
    const prev = daemons.get(m);
    daemons.set(m, await startDaemon(dir, args(m), prev?.stateDir));
  };
  const live = () =>
    [...daemons.values()].filter((d) => d.proc.exitCode === null && d.proc.signalCode === null);

  /** Every daemon's /status names one owner per host, they all agree, and each owner is among `members`. */
  const agreedOwners = async (members: string[]) => {
    const views = await Promise.all(live().map(statusNow));
    const first = new Map(views[0]?.hosts.map((h) => [h.host, h.owner]));
    for (const v of views) {
      if (!v) return undefined;
      if (v.coordination.members.join() !== [...members].sort().join()) return undefined;
      if (v.hosts.length !== HOSTS.length) return undefined;
      for (const h of v.hosts)
        if (!h.owner || !members.includes(h.owner) || first.get(h.host) !== h.owner) return undefined;
      const own = v.hosts.filter((h) => h.owner === v.coordination.member).length;
      if (own !== v.coordination.owned) return undefined;
    }
    return first as Map<string, string>;
  };
  const converged = (v: string) => HOSTS.every((h) => hostFile(h) === content(v));

  beforeAll(async () => {
    etcd = await startEtcdCluster(3, 23790);
    for (const h of HOSTS) sh(h, 'rm -rf /var/lib/hostop /etc/hostop-cluster');
    dir = desiredState(HOSTS, resources('v1'));
    for (const m of MEMBERS) await start(m);
  }, 120_000);

  afterAll(async () => {
    for (const d of daemons.values()) {
      d.proc.kill('SIGCONT');
      await d.stop('SIGKILL');
    }
    await etcd?.close();
    for (const h of HOSTS) sh(h, 'rm -rf /var/lib/hostop /etc/hostop-cluster');
  });

  const dumpLogs = (e: unknown) => {
    for (const [m, d] of daemons)
      for (const l of d.logs.filter((x) => x.status !== 'in-sync').slice(-80))
        console.error(m, JSON.stringify(l).slice(0, 400));
    throw e;
  };

  it('shares 30 hosts among three daemons: each host owned by exactly one, every host converged', async () => {
    try {
      const owners = (await waitFor('owners agreed', () => agreedOwners(MEMBERS), 90_000, 500))!;
      for (const m of MEMBERS) expect([...owners.values()]).toContain(m);
      await waitFor('all converged', () => converged('v1'), 90_000, 1000);
      // The metrics agree: on each host, 1 on its owner's daemon and 0 on the two others.
      for (const h of HOSTS) {
        const values = await Promise.all(
          MEMBERS.map((m) => metric(daemons.get(m)!.url, 'hostop_host_owned', { host: h })),
        );
        expect(values, h).toEqual(MEMBERS.map((m) => (owners.get(h) === m ? 1 : 0)));
      }
      // Ready everywhere, as seen from any one daemon.
      await waitFor(
        'ready everywhere',
        async () =>
          (await statusOf(daemons.get('m0')!)).resources.filter(
            (r) => r.conditions.find((c) => c.type === 'Ready')?.status === 'True',
          ).length === HOSTS.length,
        60_000,
        500,
      );
      const text = (await hostop(['status', '--url', daemons.get('m1')!.url])).stdout;
      expect(text).toMatch(/shared by 3 daemons/);
      const logs = assertOneWriterAtATime();
      for (const h of HOSTS) expect(logs.get(h)!.map((l) => l.member)).toContain(owners.get(h));
    } catch (e) {
      dumpLogs(e);
    }
  }, 240_000);

  it('takes over the hosts of a daemon killed with SIGKILL and corrects a hand edit there', async () => {
    try {
      const before = (await waitFor('owners agreed', () => agreedOwners(MEMBERS), 60_000, 200))!;
      const victim = 'm0';
      const orphans = HOSTS.filter((h) => before.get(h) === victim);
      expect(orphans.length).toBeGreaterThan(0);
      await daemons.get(victim)!.stop('SIGKILL');
      const killedAt = Date.now();
      const after = (await waitFor('orphans owned again', () => agreedOwners(['m1', 'm2']), 60_000, 200))!;
      const target = orphans[0]!;
      sh(target, `echo 'hand: edit' > ${PATH}`);
      await waitFor(`${target} corrected`, () => hostFile(target) === content('v1'), 30_000, 100);
      console.log(
        `failover: ${orphans.length} hosts owned again and a hand edit corrected ${Date.now() - killedAt} ms after the kill`,
      );
      // Only hosts of the dead daemon moved (rendezvous: the others stay put).
      for (const h of HOSTS) if (!orphans.includes(h)) expect(after.get(h)).toBe(before.get(h));
      assertOneWriterAtATime();
      // It comes back under its name once its old lease lapsed, and gets its hosts back.
      await start(victim);
      await waitFor('three again', () => agreedOwners(MEMBERS), 90_000, 500);
      await waitFor('all converged', () => converged('v1'), 60_000, 1000);
    } catch (e) {
      dumpLogs(e);
    }
  }, 240_000);

  it('a daemon paused past its lease writes nothing to the hosts it lost, after it wakes', async () => {
    try {
      const owners = (await waitFor('three owners', () => agreedOwners(MEMBERS), 60_000, 500))!;
      const sleeper = daemons.get('m1')!;
      const lost = HOSTS.filter((h) => owners.get(h) === 'm1');
      // The claims m1 holds now: their tokens, from the hosts' own logs.
      const oldTokens = new Set(
        HOSTS.flatMap((h) =>
          fenceLog(h)
            .filter((l) => l.member === 'm1')
            .map((l) => l.token),
        ),
      );
      sleeper.proc.kill('SIGSTOP');
      const others = [daemons.get('m0')!, daemons.get('m2')!];
      await waitFor(
        'its hosts owned by the others',
        async () => {
          const views = await Promise.all(others.map(statusOf));
          return views.every((v) => v.hosts.every((h) => h.owner === 'm0' || h.owner === 'm2'));
        },
        60_000,
        200,
      );
      version = 'v2';
      writeDesiredState(dir, HOSTS, resources(version));
      await waitFor('v2 everywhere (by m0 and m2)', () => converged(version), 90_000, 500);
      const wokeAt = Date.now() / 1000;
      sleeper.proc.kill('SIGCONT');
      await waitFor('three again', () => agreedOwners(MEMBERS), 90_000, 500);
      await waitFor('still v2', () => converged('v2'), 30_000, 500);
      const logs = assertOneWriterAtATime();
      for (const h of lost) {
        const late = logs
          .get(h)!
          .filter((l) => l.member === 'm1' && l.time >= wokeAt && oldTokens.has(l.token));
        expect(late, `${h}: m1 wrote with a claim it had lost`).toEqual([]);
      }
      expect(sleeper.logs.some((l) => String(l.msg).startsWith('lease lost'))).toBe(true);
    } catch (e) {
      dumpLogs(e);
    }
  }, 300_000);

  it('carries on when the etcd leader dies; stops enforcing without etcd, and resumes when it returns; a daemon started meanwhile joins then', async () => {
    try {
      await waitFor('three owners', () => agreedOwners(MEMBERS), 60_000, 500);
      const leader = await etcd.leader();
      await etcd.kill(leader);
      await waitFor('a new leader', async () => (await etcd.leader()) !== leader, 30_000, 200);
      const target = HOSTS[3]!;
      sh(target, `echo 'hand: edit' > ${PATH}`);
      await waitFor(
        `${target} corrected with one etcd member down`,
        () => hostFile(target) === content(version),
        30_000,
        100,
      );
      // Carrying on: each daemon enforces (a renewal that went to the dead leader may have made it late a moment).
      for (const d of live())
        await waitFor('enforcing', async () => (await statusOf(d)).coordination.enforcing, 30_000, 200);
      await etcd.start(leader);

      for (let i = 0; i < 3; i++) await etcd.kill(i);
      for (const d of live()) {
        await waitFor(
          'not enforcing',
          async () => (await statusOf(d)).coordination.enforcing === false,
          30_000,
          200,
        );
        const ready = await fetch(`${d.url}/readyz`);
        expect(ready.status).toBe(503);
        expect(await ready.text()).toMatch(/not enforcing/);
        const member = (await statusOf(d)).coordination.member;
        expect(await metric(d.url, 'hostop_coordination_up', { member })).toBe(0);
      }
      // Detected, not corrected: no daemon may write while none can prove its lease.
      sh(target, `echo 'hand: edit 2' > ${PATH}`);
      const drifted = async () =>
        (
          await Promise.all(
            live().map(async (d) =>
              (
                await statusOf(d)
              ).resources.some(
                (r) =>
                  r.host === target && r.conditions.some((c) => c.type === 'Drifted' && c.status === 'True'),
              ),
            ),
          )
        ).some(Boolean);
      await waitFor('the edit seen as drift', drifted, 30_000, 200);
      expect(hostFile(target)).toBe('hand: edit 2\n');
      // A daemon started while etcd is away (as at boot, before its cluster) waits for it: it answers /healthz,
      // says in /readyz why it is not ready, and joins once etcd is back.
      const late = await startDaemon(dir, args('m3'), undefined, 'serving http');
      daemons.set('m3', late);
      expect((await fetch(`${late.url}/healthz`)).status).toBe(200);
      await waitFor(
        'the late daemon says etcd is unreachable',
        async () => {
          const r = await fetch(`${late.url}/readyz`);
          return r.status === 503 && /not enforcing: etcd unreachable/.test(await r.text());
        },
        60_000,
        200,
      );
      // Together: one member alone has no quorum, and waits for the others.
      await Promise.all([0, 1, 2].map((i) => etcd.start(i)));
      await waitFor('four daemons share the hosts', () => agreedOwners([...MEMBERS, 'm3']), 90_000, 500);
      for (const d of live())
        await waitFor(
          'enforcing again',
          async () => (await fetch(`${d.url}/readyz`)).status === 200,
          60_000,
          200,
        );
      await waitFor(
        `${target} corrected once etcd is back`,
        () => hostFile(target) === content(version),
        60_000,
        200,
      );
      assertOneWriterAtATime();
    } catch (e) {
      dumpLogs(e);
    }
  }, 300_000);

  it('a host that leaves the desired state leaves etcd too: its ownership key and its published status', async () => {
    try {
      const gone = HOSTS.at(-1)!;
      const rest = HOSTS.slice(0, -1);
      await waitFor('its status published', async () => (await etcd.keys('/hostop/status/')).includes(gone));
      // And the status of a host removed while its owner was gone: no owner releases it; any daemon drops it.
      const orphan = JSON.stringify({
        owner: 'm9',
        host: { host: 'lab-999', reachable: true },
        resources: [],
      });
      await etcd.put('/hostop/status/lab-999', orphan);
      writeDesiredState(dir, rest, fileResource('cluster-app', rest, PATH, content(version)));
      await waitFor(
        `${gone} gone from etcd`,
        async () =>
          !(await etcd.keys('/hostop/owners/')).includes(gone) &&
          !(await etcd.keys('/hostop/status/')).some((h) => h === gone || h === 'lab-999'),
        60_000,
        200,
      );
      for (const d of live())
        await waitFor(
          `${gone} gone from every /status`,
          async () => (await statusOf(d)).hosts.every((h) => h.host !== gone),
          30_000,
          200,
        );
      expect(await etcd.keys('/hostop/owners/')).toEqual([...rest].sort());
    } catch (e) {
      dumpLogs(e);
    }
  }, 120_000);
});

describe('a daemon on a secured etcd: TLS with client certificates, a user whose role covers only the prefix', () => {
  const hosts = HOSTS.slice(0, 3);
  const PREFIX = '/fleet-a/';
  const PASSWORD = `pw-${process.pid}-hostop-secret`;
  /** An epoch drawn long ago (its first 12 hex digits are the ms it was drawn at). */
  const OLD_EPOCH = `${'0'.repeat(11)}1${'a'.repeat(20)}`;
  let etcd: EtcdCluster;
  let dir: string;
  let tls: TestTls;
  let files: string;
  const secured = (passwordFile: string, prefix = PREFIX, endpoints = etcd.endpoints) => [
    '--etcd-endpoints',
    endpoints.join(','),
    '--etcd-prefix',
    prefix,
    '--member',
    's0',
    '--etcd-lease-ttl',
    `${TTL_S}s`,
    '--etcd-ca',
    tls.ca,
    '--etcd-cert',
    tls.clientCert,
    '--etcd-key',
    tls.clientKey,
    '--etcd-user',
    'hostop',
    '--etcd-password-file',
    passwordFile,
  ];
  const passwordFile = (name: string, text: string) => {
    const f = join(files, name);
    writeFileSync(f, text, { mode: 0o600 });
    return f;
  };

  beforeAll(async () => {
    files = mkdtempSync(join(tmpdir(), 'hostop-etcd-tls-'));
    tls = makeTestTls(files);
    etcd = await startEtcdCluster(1, 23795, tls);
    await etcd.enableAuth('hostop', PASSWORD, PREFIX);
    // The hosts were fenced through an earlier etcd (another epoch), whose revisions were far beyond this fresh one's.
    for (const h of hosts)
      sh(
        h,
        `rm -rf /var/lib/hostop /etc/hostop-cluster && mkdir -m 700 /var/lib/hostop && printf '90000 ${OLD_EPOCH}\\n' > /var/lib/hostop/fence`,
      );
    dir = desiredState(hosts, fileResource('cluster-app', hosts, PATH, content('tls')));
  }, 120_000);

  afterAll(async () => {
    await etcd?.close();
    for (const h of hosts) sh(h, 'rm -rf /var/lib/hostop /etc/hostop-cluster');
    rmSync(files, { recursive: true, force: true });
  });

  it('joins with its certificate and password, owns and converges its hosts (fenced before through an earlier etcd); the password is in no log line', async () => {
    await withDaemon(dir, secured(passwordFile('password', `${PASSWORD}\n`)), async (d) => {
      await waitFor(
        'every host owned, enforcing',
        async () => {
          const c = (await statusOf(d)).coordination;
          return c.enforcing && c.owned === hosts.length;
        },
        60_000,
        200,
      );
      await waitFor('converged', () => hosts.every((h) => hostFile(h) === content('tls')), 60_000, 500);
      expect(await etcd.keys(`${PREFIX}owners/`)).toEqual([...hosts].sort());
      expect(JSON.stringify(d.logs)).not.toContain(PASSWORD);
      // Each host moved to this etcd's epoch in place of the old epoch's higher token, and the daemon said so.
      for (const h of hosts) {
        const log = fenceLog(h);
        expect(log.length, h).toBeGreaterThan(0);
        const epoch = log[0]!.epoch;
        expect(epoch).toMatch(/^[0-9a-f]{32}$/);
        expect(epoch).not.toBe(OLD_EPOCH);
        expect(log.every((l) => l.epoch === epoch && l.token < 90000n && l.member === 's0')).toBe(true);
        expect(sh(h, 'cat /var/lib/hostop/fence')).toBe(`${log.at(-1)!.token} ${epoch}\n`);
        expect(
          d.logs.some((l) => l.host === h && l.fromEpoch === OLD_EPOCH && l.fromRevision === '90000'),
          `${h}: adoption logged`,
        ).toBe(true);
      }
      const before = (await etcd.get(`${PREFIX}epoch`))!;
      expect(before).toBe(fenceLog(hosts[0]!)[0]!.epoch);
      // An operator deletes the epoch key (as after restoring a snapshot, whose revisions are older than the
      // tokens issued since): the daemon draws a new one, and the next write to a host moves its fence there.
      await etcd.del(`${PREFIX}epoch`);
      const next = (await waitFor('a new epoch', async () => {
        const e = await etcd.get(`${PREFIX}epoch`);
        return e && e !== before ? e : undefined;
      }))!;
      const h = hosts[0]!;
      sh(h, `echo 'hand: edit' > ${PATH}`);
      await waitFor(`${h} corrected`, () => hostFile(h) === content('tls'), 30_000, 100);
      expect(sh(h, 'cat /var/lib/hostop/fence')).toMatch(new RegExp(`^\\d+ ${next}\n$`));
    });
  }, 120_000);

  it('a wrong password, or a prefix the role does not cover, is a clear error and an exit, not a wait', async () => {
    const run = (args: string[]) =>
      hostop(
        ['run', dir, '--listen', '127.0.0.1:0', '--state-dir', mkdtempSync(join(files, 'state-')), ...args],
        60_000,
      );
    const wrong = await run(secured(passwordFile('wrong', 'not-the-password\n')));
    expect(wrong.code, wrong.stderr).toBe(1);
    expect(wrong.stderr).toMatch(/etcd refused this daemon \(user "hostop"\): .*authentication failed/);
    // etcd3 reports only the last endpoint's answer to a login: here a refused connection, as if etcd were down.
    const lastDown = await run(
      secured(passwordFile('wrong', 'not-the-password\n'), PREFIX, [
        ...etcd.endpoints,
        'https://127.0.0.1:9',
      ]),
    );
    expect(lastDown.code, lastDown.stderr).toBe(1);
    expect(lastDown.stderr).toMatch(/etcd refused this daemon \(user "hostop"\): .*authentication failed/);
    const elsewhere = await run(secured(passwordFile('password', `${PASSWORD}\n`), '/fleet-b/'));
    expect(elsewhere.code, elsewhere.stderr).toBe(1);
    expect(elsewhere.stderr).toMatch(/permission denied.*reading and writing \/fleet-b\//);
    for (const r of [wrong, lastDown, elsewhere]) expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  }, 180_000);
});
