import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { TransportError } from '../../../src/core/errors.js';
import type { HostRef } from '../../../src/core/model.js';
import { ConnectionPool } from '../../../src/ssh/connection-pool.js';
import { HostConnection } from '../../../src/ssh/host-connection.js';

/** HostConnection.open replaced: no socket is opened; each test decides when a handshake ends and how. */
const dir = mkdtempSync(join(tmpdir(), 'hostop-pool-'));
const identityFile = join(dir, 'id_ed25519');
writeFileSync(identityFile, 'not a real key: open is replaced');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const host = (name: string): HostRef => ({
  name,
  labels: {},
  address: '192.0.2.1',
  port: 22,
  user: 'root',
  hostKey: 'ssh-ed25519 AAAA',
  identityFile,
  privilege: 'root',
});
const fakeConnection = () => ({ closed: false, close() {} }) as unknown as HostConnection;
/** Waits until `started` is `want` (the identity file is read first), then a little longer to see it stay so. */
async function startedBecomes(started: string[], want: string[]): Promise<void> {
  await vi.waitFor(() => expect(started).toEqual(want));
  await new Promise((r) => setTimeout(r, 20));
  expect(started).toEqual(want);
}

describe('ConnectionPool handshakes', () => {
  it('runs at most maxConcurrentHandshakes at once and starts the waiters in call order', async () => {
    const started: string[] = [];
    const finish = new Map<string, () => void>();
    vi.spyOn(HostConnection, 'open').mockImplementation(
      (h) =>
        new Promise((resolve) => {
          started.push(h.name);
          finish.set(h.name, () => resolve(fakeConnection()));
        }),
    );
    const pool = new ConnectionPool({ maxConcurrentHandshakes: 2 });
    const names = ['a', 'b', 'c', 'd', 'e'];
    const conns = names.map((n) => pool.connection(host(n)));
    await startedBecomes(started, ['a', 'b']);
    finish.get('b')!();
    await startedBecomes(started, ['a', 'b', 'c']);
    finish.get('a')!();
    finish.get('c')!();
    await startedBecomes(started, ['a', 'b', 'c', 'd', 'e']);
    finish.get('d')!();
    finish.get('e')!();
    await Promise.all(conns);
    // A host already connected costs no handshake.
    await pool.connection(host('a'));
    expect(started).toHaveLength(5);
    pool.closeAll();
  });

  it('frees the slot of a failed handshake', async () => {
    const open = vi
      .spyOn(HostConnection, 'open')
      .mockRejectedValueOnce(new TransportError('ConnectRefused', 'refused', true, { host: 'a' }))
      .mockResolvedValue(fakeConnection());
    const pool = new ConnectionPool({ maxConcurrentHandshakes: 1 });
    const [a, b] = await Promise.allSettled([pool.connection(host('a')), pool.connection(host('b'))]);
    expect(a.status).toBe('rejected');
    expect(b.status).toBe('fulfilled');
    expect(open).toHaveBeenCalledTimes(2);
    pool.closeAll();
  });
});

describe('ConnectionPool backoff', () => {
  it('refuses a failed host until its jittered, doubling delay elapses, and starts over on success', async () => {
    let now = 1_000_000;
    vi.spyOn(Date, 'now').mockImplementation(() => now);
    const refused = new TransportError('ConnectRefused', 'refused', true, { host: 'a' });
    const open = vi.spyOn(HostConnection, 'open').mockRejectedValue(refused);
    const pool = new ConnectionPool({ backoffBaseMs: 1_000, backoffMaxMs: 4_000 });
    const attempt = async () => {
      const before = open.mock.calls.length;
      await expect(pool.connection(host('a'))).rejects.toBe(refused);
      return open.mock.calls.length > before;
    };

    // After failure n (from 0) the delay is within [0.5, 1] x min(4 s, 1 s x 2^n): 1 s, 2 s, 4 s, 4 s.
    expect(await attempt()).toBe(true);
    for (const ceiling of [1_000, 2_000, 4_000, 4_000]) {
      const failedAt = now;
      now = failedAt + ceiling / 2 - 1;
      expect(await attempt()).toBe(false); // the last error, at once
      now = failedAt + ceiling;
      expect(await attempt()).toBe(true);
    }

    open.mockResolvedValueOnce(fakeConnection());
    now += 4_000;
    const conn = await pool.connection(host('a'));
    (conn as { closed: boolean }).closed = true; // dropped: replaced at once, without backoff
    const failedAt = now;
    expect(await attempt()).toBe(true);
    now = failedAt + 1_000; // the failure count started over: 1 s again
    expect(await attempt()).toBe(true);
    pool.closeAll();
  });

  it.each([[{ backoffBaseMs: 0 }], [{ backoffBaseMs: 2_000, backoffMaxMs: 1_000 }]])('rejects %j', (opts) => {
    expect(() => new ConnectionPool(opts)).toThrow(RangeError);
  });
});
