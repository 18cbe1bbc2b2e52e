import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real etcd cluster (Debian's etcd-server) on loopback, for the tests of several daemons: `size` members, each
 * with its own data directory, started and stopped by the test. Raft timing is etcd's default (heartbeat 100 ms,
 * election 1000 ms: https://etcd.io/docs/v3.4/tuning/).
 */
export interface EtcdCluster {
  /** Client URLs, one per member, in member order. */
  endpoints: string[];
  /** Whether member i runs. */
  running(i: number): boolean;
  /** Sends a signal to member i (SIGKILL: it is gone; restart it with start(i)). */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts member i again on its data directory. */
  start(i: number): Promise<void>;
  /** The index of the member that is the Raft leader now (asked of a running member). */
  leader(): Promise<number>;
  /** The keys under `prefix`, read from a running member (a linearizable range). */
  keys(prefix: string): Promise<string[]>;
  /** Stops every member and removes the data. */
  close(): Promise<void>;
}

interface MemberStatus {
  header?: { member_id?: string };
  leader?: string;
}

export async function startEtcdCluster(size = 3, basePort = 23790): Promise<EtcdCluster> {
  // On tmpfs: etcd fsyncs its WAL on every write, and a loaded test machine's disk makes that seconds.
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'hostop-etcd-'));
  const client = (i: number) => `http://127.0.0.1:${basePort + 1 + i}`;
  const peer = (i: number) => `http://127.0.0.1:${basePort + 11 + i}`;
  const initial = Array.from({ length: size }, (_, i) => `e${i}=${peer(i)}`).join(',');
  const procs: (ChildProcess | undefined)[] = Array.from({ length: size });
  const logs: string[] = Array.from({ length: size }, () => '');

  const launch = (i: number) => {
    const p = spawn(
      'etcd',
      [
        `--name=e${i}`,
        `--data-dir=${join(dir, `e${i}`)}`,
        `--listen-client-urls=${client(i)}`,
        `--advertise-client-urls=${client(i)}`,
        `--listen-peer-urls=${peer(i)}`,
        `--initial-advertise-peer-urls=${peer(i)}`,
        `--initial-cluster=${initial}`,
        '--initial-cluster-state=new',
        `--initial-cluster-token=hostop-test-${basePort}`,
        '--log-level=warn',
        '--logger=zap',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    p.stderr!.on('data', (d: Buffer) => {
      logs[i] = (logs[i]! + d.toString()).slice(-4000);
    });
    procs[i] = p;
  };

  const status = async (i: number): Promise<MemberStatus | undefined> => {
    try {
      // etcd's gRPC gateway: Maintenance.Status as JSON (https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/).
      const res = await fetch(`${client(i)}/v3/maintenance/status`, {
        method: 'POST',
        body: '{}',
        signal: AbortSignal.timeout(2_000),
      });
      return res.ok ? ((await res.json()) as MemberStatus) : undefined;
    } catch {
      return undefined;
    }
  };

  /** Waits until member i answers and the cluster has a leader. */
  const healthy = async (i: number) => {
    const until = Date.now() + 60_000;
    let s: MemberStatus | undefined;
    while (Date.now() < until) {
      s = await status(i);
      if (s?.leader && s.leader !== '0') return;
      if (procs[i]?.exitCode !== null && procs[i]?.exitCode !== undefined)
        throw new Error(`etcd e${i} exited ${procs[i]?.exitCode}: ${logs[i]}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`etcd e${i} did not become healthy (last status: ${JSON.stringify(s)}): ${logs[i]}`);
  };

  const stop = (i: number, signal: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      const p = procs[i];
      if (!p || p.exitCode !== null || p.signalCode !== null) return resolve();
      p.once('exit', () => resolve());
      p.kill(signal);
    });

  for (let i = 0; i < size; i++) launch(i);
  await Promise.all(procs.map((_, i) => healthy(i)));

  const cluster: EtcdCluster = {
    endpoints: Array.from({ length: size }, (_, i) => client(i)),
    running: (i) => procs[i] !== undefined && procs[i]!.exitCode === null && procs[i]!.signalCode === null,
    kill: async (i, signal = 'SIGKILL') => {
      await stop(i, signal);
      if (signal === 'SIGKILL' || signal === 'SIGTERM') procs[i] = undefined;
    },
    start: async (i) => {
      launch(i);
      await healthy(i);
    },
    leader: async () => {
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        const ids = await Promise.all(procs.map((_, j) => (cluster.running(j) ? status(j) : undefined)));
        const leader = ids.find((s) => s?.leader && s.leader !== '0')?.leader;
        const j = ids.findIndex((s) => s?.header?.member_id === leader);
        if (leader && j >= 0) return j;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error('no etcd member knows a leader');
    },
    keys: async (prefix) => {
      // etcd's gRPC gateway: KV.Range as JSON, keys in base64; the range end of a prefix is the prefix with its
      // last byte plus one (https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/).
      const b64 = (b: Buffer) => b.toString('base64');
      const end = Buffer.from(prefix);
      end[end.length - 1]! += 1;
      const i = procs.findIndex((_, j) => cluster.running(j));
      const res = await fetch(`${client(i)}/v3/kv/range`, {
        method: 'POST',
        body: JSON.stringify({ key: b64(Buffer.from(prefix)), range_end: b64(end), keys_only: true }),
        signal: AbortSignal.timeout(5_000),
      });
      if (!res.ok) throw new Error(`etcd e${i}: range ${prefix}: HTTP ${res.status}`);
      const body = (await res.json()) as { kvs?: { key: string }[] };
      return (body.kvs ?? []).map((kv) => Buffer.from(kv.key, 'base64').toString());
    },
    close: async () => {
      await Promise.all(procs.map((_, i) => stop(i, 'SIGKILL')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
