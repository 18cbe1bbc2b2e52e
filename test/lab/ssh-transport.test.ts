import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimeoutError, TransportError } from '../../src/core/errors.js';
import type { HostRef } from '../../src/core/model.js';
import { ConnectionPool } from '../../src/ssh/connection-pool.js';
import { quoteArg } from '../../src/ssh/quote.js';
import { httpGet, tcpReachable } from '../../src/ssh/tunnel-http.js';
import { waitFor } from '../support/daemon.js';
import { labHost, labSsh } from '../support/lab.js';

const REQ = { timeoutMs: 20_000 };
let pool: ConnectionPool;
let h1: HostRef;
let h2: HostRef;

beforeAll(() => {
  pool = new ConnectionPool({ connectTimeoutMs: 5_000, backoffBaseMs: 60_000 });
  h1 = labHost('lab-01');
  h2 = labHost('lab-02');
});
afterAll(() => pool.closeAll());

async function caught(p: Promise<unknown>): Promise<TransportError> {
  try {
    await p;
  } catch (e) {
    return e as TransportError;
  }
  throw new Error('expected a rejection');
}

describe('connection and shell channel', () => {
  it('reuses one connection and one shell channel for many requests', async () => {
    const conn = await pool.connection(h1);
    const before = pool.counters('lab-01');
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map((i) => conn.run(`echo ${i}; echo e${i} >&2; exit ${i}`, REQ)),
    );
    expect(results.map((r) => [r.code, r.stdout.toString(), r.stderr.toString()])).toEqual(
      [1, 2, 3, 4, 5].map((i) => [i, `${i}\n`, `e${i}\n`]),
    );
    expect(await pool.connection(h1)).toBe(conn);
    const after = pool.counters('lab-01');
    expect(after.requests - before.requests).toBe(5);
    expect(after.connectionsOpened).toBe(1);
    expect(after.channelsOpened).toBe(1);
    expect((await conn.run('hostname', REQ)).stdout.toString().trim()).toBe('lab-01');
  });

  it('carries a script of several MB (apply writes files this way) and cleans up', async () => {
    const conn = await pool.connection(h1);
    const data = randomBytes(4 * 1024 * 1024);
    const file = '/tmp/hostop-test-bigscript';
    const script = `base64 -d > ${quoteArg(file)} <<'EOF_DATA'\n${data.toString('base64').replace(/.{76}/g, '$&\n')}\nEOF_DATA\nsha256sum < ${quoteArg(file)}; rm -f -- ${quoteArg(file)}`;
    const r = await conn.run(script, { timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(r.stdout.toString().slice(0, 64)).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('runs a one-off exec with stdin on its own channel', async () => {
    const conn = await pool.connection(h1);
    const input = Buffer.from("data with 'quotes' and $(touch /tmp/hostop-test-x)\n");
    const r = await conn.exec(['sha256sum'], { ...REQ, stdin: input });
    expect(r.stdout.toString().slice(0, 64)).toBe(createHash('sha256').update(input).digest('hex'));
    expect(labSsh('lab-01', 'test -e /tmp/hostop-test-x && echo yes || echo no').toString()).toBe('no\n');
  });

  it('a deadline rejects with TimeoutError, discards the channel, and the next request gets a fresh one', async () => {
    const conn = await pool.connection(h1);
    const before = pool.counters('lab-01');
    const err = await caught(conn.run('sleep 30', { timeoutMs: 300 }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.host).toBe('lab-01');
    expect((await conn.run('echo again', REQ)).stdout.toString()).toBe('again\n');
    expect(pool.counters('lab-01').channelsOpened - before.channelsOpened).toBe(1);
    expect(pool.counters('lab-01').connectionsOpened).toBe(before.connectionsOpened);
  });

  it('an abort signal cancels a request with a typed error', async () => {
    const conn = await pool.connection(h1);
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(), 200);
    const err = await caught(conn.run('sleep 30', { timeoutMs: 20_000, signal: ctrl.signal }));
    expect([err.code, err.host]).toEqual(['Aborted', 'lab-01']);
    expect((await conn.run('echo ok', REQ)).stdout.toString()).toBe('ok\n');
  });

  it('a connection killed mid-request gives ConnectionLost and the pool reconnects on the next call', async () => {
    const conn = await pool.connection(h1);
    const before = pool.counters('lab-01');
    // The shell's parent is sshd's session process for exactly this connection: kill it, as an
    // operator's `pkill sshd` or a crash would, while the request is running.
    const err = await caught(conn.run('sleep 0.3; kill -9 $PPID; sleep 30', REQ));
    expect(err).toBeInstanceOf(TransportError);
    expect([err.code, err.retryable, err.host]).toEqual(['ConnectionLost', true, 'lab-01']);
    expect(conn.closed).toBe(true);
    const again = await pool.connection(h1);
    expect(again).not.toBe(conn);
    expect((await again.run('echo back', REQ)).stdout.toString()).toBe('back\n');
    expect(pool.counters('lab-01').connectionsOpened).toBe(before.connectionsOpened + 1);
  });
});

describe('refusals', () => {
  it('refuses a host whose key is not the pinned one, before authenticating, with both fingerprints', async () => {
    const impostor = { ...h2, name: 'lab-02-wrong-key', hostKey: h1.hostKey };
    const err = await caught(pool.connection(impostor));
    expect(err).toBeInstanceOf(TransportError);
    expect([err.code, err.retryable, err.host]).toEqual(['HostKeyMismatch', false, 'lab-02-wrong-key']);
    expect(err.message).toMatch(
      /lab-02-wrong-key \(10\.77\.0\.12:22\) presented host key SHA256:\S+ but SHA256:\S+ is pinned/,
    );
    // No session was ever established, so nothing ran; the next call gets the same error without a new try.
    expect(pool.counters('lab-02-wrong-key')).toEqual({
      connectionsOpened: 0,
      channelsOpened: 0,
      forwardsOpened: 0,
      requests: 0,
    });
    expect(await caught(pool.connection(impostor))).toBe(err);
  });

  it('an unreachable address gives a typed error within the connect deadline', async () => {
    const ghost = { ...h1, name: 'ghost', address: '10.77.0.250' };
    const started = Date.now();
    const err = await caught(pool.connection(ghost));
    const elapsed = Date.now() - started;
    expect(err).toBeInstanceOf(TransportError);
    expect(['ConnectTimeout', 'HostUnreachable', 'Timeout']).toContain(err.code);
    expect([err.retryable, err.host]).toEqual([true, 'ghost']);
    expect(elapsed).toBeLessThan(5_000 + 3_000);
    console.log(
      `unreachable host: ${err.code} after ${elapsed} ms (connect deadline 5000 ms): ${err.message}`,
    );
    // Backing off: the next caller gets the last error itself (a new attempt would make a new one).
    expect(await caught(pool.connection(ghost))).toBe(err);
  });

  it('a closed port gives ConnectRefused', async () => {
    const err = await caught(pool.connection({ ...h1, name: 'closed-port', port: 2 }));
    expect([err.code, err.host]).toEqual(['ConnectRefused', 'closed-port']);
  });

  it('a user whose key is not authorized gives AuthFailed', async () => {
    const err = await caught(pool.connection({ ...h1, name: 'nobody-user', user: 'nobody' }));
    expect([err.code, err.retryable]).toEqual(['AuthFailed', false]);
  });
});

describe('sudo and inventory changes', () => {
  it('runs as root through `sudo -n sh` for user deploy', async () => {
    const deploy = { ...h1, name: 'lab-01-deploy', user: 'deploy', privilege: 'sudo' as const };
    const conn = await pool.connection(deploy);
    const r = await conn.run('id -un; echo "$SUDO_USER"', REQ);
    expect(r.stdout.toString()).toBe('root\ndeploy\n');
    expect((await conn.exec(['id', '-un'], REQ)).stdout.toString()).toBe('root\n');
    const plain = await pool.connection({ ...deploy, name: 'lab-01-deploy-plain', privilege: 'root' });
    expect((await plain.run('id -un', REQ)).stdout.toString()).toBe('deploy\n');
  });

  it('a changed HostRef replaces the connection; retain closes hosts that left the inventory', async () => {
    const conn = await pool.connection(h2);
    const moved = await pool.connection({ ...h2, port: 22, user: 'deploy', privilege: 'sudo' });
    expect(moved).not.toBe(conn);
    expect(conn.closed).toBe(true);
    pool.retain([h1]);
    expect(moved.closed).toBe(true);
  });
});

describe('from the host point of view (direct-tcpip, no process on the host)', () => {
  it('reaches sshd on the host itself and reports a closed port as unreachable', async () => {
    const conn = await pool.connection(h1);
    const before = pool.counters('lab-01');
    expect(await tcpReachable(conn, '127.0.0.1', 22, { timeoutMs: 5_000 })).toEqual({ reachable: true });
    const closed = await tcpReachable(conn, '127.0.0.1', 1, { timeoutMs: 5_000 });
    expect(closed.reachable).toBe(false);
    // Another lab host, seen from lab-01.
    expect(await tcpReachable(conn, h2.address, 22, { timeoutMs: 5_000 })).toEqual({ reachable: true });
    const after = pool.counters('lab-01');
    expect([
      after.forwardsOpened - before.forwardsOpened,
      after.channelsOpened - before.channelsOpened,
    ]).toEqual([3, 0]);
  });

  it('GETs an HTTP endpoint through the tunnel', async () => {
    const conn = await pool.connection(h1);
    // A throwaway HTTP server on the host (python3 is in the lab template), on a test-only port.
    await conn.run(
      'mkdir -p /tmp/hostop-test-http && cd /tmp/hostop-test-http && echo hello-from-lab-01 > index.html && ' +
        '(nohup python3 -m http.server 18080 --bind 127.0.0.1 >/dev/null 2>&1 </dev/null &)',
      REQ,
    );
    await waitFor(
      'the server listening',
      async () => (await tcpReachable(conn, '127.0.0.1', 18080, { timeoutMs: 5_000 })).reachable,
      30_000,
      100,
    );
    try {
      const ok = await httpGet(conn, 'http://127.0.0.1:18080/index.html', { timeoutMs: 5_000 });
      expect([ok.status, ok.body.toString(), ok.truncated]).toEqual([200, 'hello-from-lab-01\n', false]);
      const missing = await httpGet(conn, 'http://127.0.0.1:18080/nope', { timeoutMs: 5_000 });
      expect(missing.status).toBe(404);
      const cut = await httpGet(conn, 'http://127.0.0.1:18080/index.html', {
        timeoutMs: 5_000,
        maxBodyBytes: 5,
      });
      expect([cut.body.toString(), cut.truncated]).toEqual(['hello', true]);
      const refused = await caught(httpGet(conn, 'http://127.0.0.1:1/', { timeoutMs: 5_000 }));
      expect(refused.code).toBe('ForwardRefused');
    } finally {
      await conn.run("pkill -f 'http.server 18080'; rm -rf /tmp/hostop-test-http", REQ);
    }
  });
});

describe('pool shutdown', () => {
  it('closeAll ends open connections and refuses new ones', async () => {
    const own = new ConnectionPool({ connectTimeoutMs: 5_000 });
    const conn = await own.connection(h1);
    own.closeAll();
    expect(conn.closed).toBe(true);
    await expect(conn.run('true', REQ)).rejects.toMatchObject({ code: 'ConnectionLost' });
    await expect(own.connection(h1)).rejects.toMatchObject({ code: 'Aborted' });
  });
});
