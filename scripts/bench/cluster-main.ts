import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startEtcdCluster } from '../../test/support/etcd.js';
import { hostResourcesYaml, pickHosts, readLabHosts } from './lab-hosts.js';
import { describeMachine } from './machine.js';
import { loadAverage } from './proc-sample.js';
import { writeBenchSection } from './report.js';
import { percentile } from './stats.js';

// `BENCH_ONLY=cluster npm run bench`: issue 17's benchmark. Three daemons share 30 lab hosts through a real
// 3-member etcd (Debian's) on loopback, with the default lease TTL. Measured in one go:
//  - failover: a daemon SIGKILLed, a hand edit made at once on one of its hosts, the time until that edit is
//    corrected by the host's new owner; against the baseline of the same edit corrected by a live owner, and
//    against the lease TTL (the time etcd takes to see the daemon gone);
//  - coordination cost: etcd requests per host per minute at steady state, against what the lease renewals alone
//    need (one every TTL/3 per daemon).
const repo = resolve(import.meta.dirname, '..', '..');
const HOSTS = Number(process.env.BENCH_CLUSTER_HOSTS ?? 30);
const KILLS = Number(process.env.BENCH_CLUSTER_KILLS ?? 6);
const TTL_S = 10;
const STEADY_S = Number(process.env.BENCH_CLUSTER_STEADY_S ?? 120);
const PATH = '/etc/hostop-bench-cluster/app.conf';
const WANT = 'cluster: bench\n';
const MEMBERS = ['b0', 'b1', 'b2'];
const BEGIN = '<!-- cluster-bench:begin (written by BENCH_ONLY=cluster npm run bench) -->';
const END = '<!-- cluster-bench:end -->';
const tmp = mkdtempSync(join(tmpdir(), 'hostop-bench-cluster-'));
const log = (msg: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ssh = (host: string, cmd: string) =>
  execFileSync('ssh', ['-F', join(repo, '.lab', 'ssh_config'), host, cmd], { encoding: 'utf8' });

interface Daemon {
  member: string;
  port: number;
  proc: ChildProcess;
}
const procs = new Set<ChildProcess>();

async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  ms = 120_000,
): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await Promise.resolve(check()).catch(() => undefined);
    if (v) return v;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main(): Promise<void> {
  const hosts = pickHosts(readLabHosts(repo), HOSTS, 100);
  const names = hosts.map((h) => h.name);
  const dir = join(tmp, 'desired');
  mkdirSync(dir);
  writeFileSync(join(dir, 'hosts.yaml'), hostResourcesYaml(hosts));
  writeFileSync(
    join(dir, 'app.yaml'),
    `apiVersion: hostop.dev/v1alpha1\nkind: File\nmetadata: { name: bench-cluster }\nspec:\n  hosts: [${names.join(', ')}]\n  path: ${PATH}\n  content: ${JSON.stringify(WANT)}\n`,
  );
  for (const h of names) ssh(h, 'rm -rf /var/lib/hostop /etc/hostop-bench-cluster');
  const etcd = await startEtcdCluster(3, 25790);
  const started = new Date();
  const loadStart = loadAverage();
  const daemons = new Map<string, Daemon>();
  const start = (member: string, port: number) => {
    const proc = spawn(
      process.execPath,
      [
        join(repo, 'bin', 'hostop.js'),
        'run',
        dir,
        '--listen',
        `127.0.0.1:${port}`,
        '--state-dir',
        join(tmp, member),
        '--etcd-endpoints',
        etcd.endpoints.join(','),
        '--member',
        member,
        '--etcd-lease-ttl',
        `${TTL_S}s`,
      ],
      { stdio: 'ignore' },
    );
    procs.add(proc);
    daemons.set(member, { member, port, proc });
  };
  const status = async (d: Daemon) =>
    (await (await fetch(`http://127.0.0.1:${d.port}/status`)).json()) as {
      coordination: { members: string[]; member: string };
      hosts: { host: string; owner?: string }[];
    };
  const alive = () =>
    [...daemons.values()].filter((d) => d.proc.exitCode === null && d.proc.signalCode === null);
  const owners = async (members: string[]) => {
    const views = await Promise.all(alive().map(status));
    const first = new Map(views[0]!.hosts.map((h) => [h.host, h.owner]));
    for (const v of views) {
      if (v.coordination.members.join() !== [...members].sort().join()) return undefined;
      for (const h of v.hosts)
        if (!h.owner || !members.includes(h.owner) || first.get(h.host) !== h.owner) return undefined;
    }
    return first as Map<string, string>;
  };
  const file = (h: string) => ssh(h, `cat ${PATH} 2>/dev/null || true`);
  const converged = () => names.every((h) => file(h) === WANT);
  const requests = async () => {
    let n = 0;
    for (const d of alive()) {
      const text = await (await fetch(`http://127.0.0.1:${d.port}/metrics`)).text();
      for (const l of text.split('\n'))
        if (l.startsWith('hostop_etcd_requests_total{')) n += Number(l.slice(l.lastIndexOf(' ') + 1));
    }
    return n;
  };
  /** A hand edit on `host`, and the ms until it reads as desired again. */
  const corrected = async (host: string, from = Date.now()) => {
    ssh(host, `echo 'hand: edit' > ${PATH}`);
    await until(`${host} corrected`, () => file(host) === WANT, 120_000);
    return Date.now() - from;
  };

  try {
    MEMBERS.forEach((m, i) => start(m, 19470 + i));
    await until('three members, hosts shared out', () => owners(MEMBERS), 180_000);
    await until('converged', () => converged() || undefined, 180_000);
    log('three daemons over 30 hosts converged');
    // Steady state: nothing changes; what the coordination costs.
    const r0 = await requests();
    const t0 = Date.now();
    await sleep(STEADY_S * 1000);
    const perHostMin = ((await requests()) - r0) / HOSTS / ((Date.now() - t0) / 60_000);
    const renewalsOnly = (MEMBERS.length * (60 / (TTL_S / 3))) / HOSTS;
    log(`steady state: ${perHostMin.toFixed(2)} etcd requests per host per minute`);

    // The baseline, in the same steady state: a hand edit corrected by its host's live owner, measured the same way
    // (ssh edit, then ssh reads until it is put back); and the measuring floor, one ssh read of the file.
    const live: number[] = [];
    const floor: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      const host = names[(k * 7 + 3) % names.length]!;
      live.push(await corrected(host));
      const t = Date.now();
      file(host);
      floor.push(Date.now() - t);
      await sleep(1_000);
    }
    log(`live owner: hand edits corrected in ${live.join(', ')} ms`);

    const failover: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      const own = (await until('three members', () => owners(MEMBERS), 180_000))!;
      const victim = daemons.get(MEMBERS[k % MEMBERS.length]!)!;
      const mine = names.filter((h) => own.get(h) === victim.member);
      const killedAt = Date.now();
      victim.proc.kill('SIGKILL');
      failover.push(await corrected(mine[k % mine.length]!, killedAt));
      log(
        `kill ${k + 1}/${KILLS} (${victim.member}): hand edit corrected ${failover.at(-1)} ms after the kill`,
      );
      await until(
        'killed',
        () => victim.proc.exitCode !== null || victim.proc.signalCode !== null || undefined,
      );
      start(victim.member, victim.port);
      await until('three members again', () => owners(MEMBERS), 180_000);
    }
    const m = describeMachine(repo);
    const p = (xs: number[], q: number) =>
      percentile(
        [...xs].sort((a, b) => a - b),
        q,
      );
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const when = `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${m.commit}${m.codeDirty ? ' (+ uncommitted changes)' : ''}, ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, load average ${loadStart} → ${loadAverage()}`;
    const section = [
      '### Several daemons on etcd (issue 17)',
      '',
      `${when}. Three \`hostop run\` over ${HOSTS} lab hosts, a 3-member etcd 3.4 (Debian) on loopback, lease TTL ${TTL_S} s (the default), host watches on.`,
      '',
      '| measure | p50 | p95 | baseline (same run) | ratio (p50) |',
      '|---|---|---|---|---|',
      `| failover: daemon SIGKILLed → hand edit on one of its hosts corrected (${KILLS} kills) | ${s(p(failover, 50))} | ${s(p(failover, 95))} | the same edit corrected by a live owner: ${s(p(live, 50))} | ${(p(failover, 50) / p(live, 50)).toFixed(1)}× |`,
      `| hand edit corrected by its host's live owner, steady state (${KILLS} edits) | ${s(p(live, 50))} | ${s(p(live, 95))} | one ssh read of the file (the measuring floor): ${s(p(floor, 50))} | ${(p(live, 50) / p(floor, 50)).toFixed(1)}× |`,
      `| failover against the lease TTL | ${s(p(failover, 50))} | ${s(p(failover, 95))} | TTL ${TTL_S} s (etcd's time to see the daemon gone) | ${(p(failover, 50) / (TTL_S * 1000)).toFixed(2)}× |`,
      `| etcd requests per host per minute, steady state (${STEADY_S} s, all daemons) | ${perHostMin.toFixed(2)} | | lease renewals alone: ${renewalsOnly.toFixed(2)} | ${(perHostMin / renewalsOnly).toFixed(2)}× |`,
      '',
      "The failover is bounded by the lease: etcd deletes a dead daemon's keys only when its lease expires, then the others claim its hosts, raise each host's fence, probe and correct. A graceful stop (SIGTERM) hands the hosts over at once instead.",
    ].join('\n');
    process.stdout.write(`${section}\n`);
    writeBenchSection(join(repo, 'BENCHMARKS.md'), BEGIN, END, section);
    log('BENCHMARKS.md: the cluster section rewritten');
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    await etcd.close();
    for (const h of names) ssh(h, 'rm -rf /var/lib/hostop /etc/hostop-bench-cluster');
  }
}

try {
  await main();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(0);
