import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';

/** PEM files of a test CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
export interface TestTls {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A throwaway CA and its two certificates (P-256 keys, a day's validity) in `dir`. */
export function makeTestTls(dir: string): TestTls {
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...key,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-days',
    '1',
    '-subj',
    '/CN=hostop test CA',
  );
  const issue = (name: string, cn: string, ext: string) => {
    writeFileSync(f(`${name}.ext`), ext);
    openssl('req', ...key, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    // etcd's gRPC gateway dials etcd with the server certificate, so it serves as a client certificate too.
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${name}.crt`),
      '-days',
      '1',
      '-extfile',
      f(`${name}.ext`),
    );
  };
  issue('server', 'etcd', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  issue('client', 'hostop-tls-client', 'extendedKeyUsage=clientAuth\n');
  return {
    ca: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
  };
}

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
  /** The keys under `prefix`, without it, sorted (a linearizable range). */
  keys(prefix: string): Promise<string[]>;
  /** The value of `key`, or null. */
  get(key: string): Promise<string | null>;
  /** Deletes `key`, as an operator's `etcdctl del` would. */
  del(key: string): Promise<void>;
  /** Puts `key`, as an operator's `etcdctl put` would. */
  put(key: string, value: string): Promise<void>;
  /**
   * Turns on etcd's authentication: a `root` user (etcd requires one) and `user` with a role that may read and
   * write `prefix` only (https://etcd.io/docs/v3.4/op-guide/authentication/). The helper's own calls go on as root.
   */
  enableAuth(user: string, password: string, prefix: string): Promise<void>;
  /** Stops every member and removes the data. */
  close(): Promise<void>;
}

interface MemberStatus {
  header?: { member_id?: string };
  leader?: string;
}

export async function startEtcdCluster(size = 3, basePort = 23790, tls?: TestTls): Promise<EtcdCluster> {
  // On tmpfs: etcd fsyncs its WAL on every write, and a loaded test machine's disk makes that seconds.
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'hostop-etcd-'));
  const client = (i: number) => `${tls ? 'https' : 'http'}://127.0.0.1:${basePort + 1 + i}`;
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
        // Clients must show a certificate of the CA (https://etcd.io/docs/v3.4/op-guide/security/).
        ...(tls
          ? [
              `--cert-file=${tls.serverCert}`,
              `--key-file=${tls.serverKey}`,
              `--trusted-ca-file=${tls.ca}`,
              '--client-cert-auth',
            ]
          : []),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    p.stderr!.on('data', (d: Buffer) => {
      logs[i] = (logs[i]! + d.toString()).slice(-4000);
    });
    procs[i] = p;
  };

  const tlsFiles = tls && {
    ca: readFileSync(tls.ca),
    cert: readFileSync(tls.clientCert),
    key: readFileSync(tls.clientKey),
  };
  /** Maintenance.Status through etcd's gRPC gateway (https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/). */
  const memberStatus = (i: number) =>
    new Promise<MemberStatus>((resolve, reject) => {
      const req = (tls ? httpsRequest : httpRequest)(
        new URL('/v3/maintenance/status', client(i)),
        { method: 'POST', timeout: 2_000, ...tlsFiles },
        (res) => {
          let out = '';
          res.on('data', (d: Buffer) => {
            out += d.toString();
          });
          res.on('end', () =>
            res.statusCode === 200
              ? resolve(JSON.parse(out) as MemberStatus)
              : reject(new Error(`HTTP ${res.statusCode}`)),
          );
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer')));
      req.on('error', reject);
      req.end('{}');
    });
  // The helper's own client for keys and users (as root once authentication is on).
  let admin: Etcd3 | undefined;
  const kv = () => admin ?? adminClient();
  const adminClient = (auth?: { username: string; password: string }) => {
    admin?.close();
    admin = new Etcd3({
      hosts: procs.map((_, j) => client(j)),
      ...(tlsFiles && {
        credentials: { rootCertificate: tlsFiles.ca, certChain: tlsFiles.cert, privateKey: tlsFiles.key },
      }),
      ...(auth && { auth }),
    });
    return admin;
  };

  const status = async (i: number): Promise<MemberStatus | undefined> => {
    try {
      return await memberStatus(i);
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
    keys: async (prefix) =>
      (await kv().getAll().prefix(prefix).keys()).map((k) => k.slice(prefix.length)).sort(),
    get: (key) => kv().get(key).string(),
    put: async (key, value) => {
      await kv().put(key).value(value).exec();
    },
    del: async (key) => {
      await kv().delete().key(key).exec();
    },
    enableAuth: async (user, password, prefix) => {
      const c = kv();
      const rootPassword = `root-${process.pid}-${Date.now()}`;
      await c.role('root').create();
      await c.user('root').create(rootPassword);
      await c.user('root').addRole('root');
      await c.role(user).create();
      await c.role(user).grant({ permission: 'Readwrite', range: c.range({ prefix }) });
      await c.user(user).create(password);
      await c.user(user).addRole(user);
      await c.auth.authEnable();
      adminClient({ username: 'root', password: rootPassword });
    },
    close: async () => {
      admin?.close();
      await Promise.all(procs.map((_, i) => stop(i, 'SIGKILL')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
