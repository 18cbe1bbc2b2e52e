import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostRef, ObservedHost } from '../../src/core/model.js';
import { type ProbeCache, probeHost } from '../../src/probe/probe-host.js';
import { ConnectionPool } from '../../src/ssh/connection-pool.js';
import type { TransportCounters } from '../../src/ssh/host-connection.js';
import { labHosts } from '../support/lab.js';

// The acceptance test of issue 3: a warm probe of every lab host (50 when the lab is up with --hosts 50)
// is exactly one round trip per host on the already-open shell channel. Wall times are printed, not asserted.
const targets = {
  paths: [
    '/etc/hostname',
    '/etc/os-release',
    '/etc/ssh/sshd_config',
    '/etc/passwd',
    '/etc/hostop-test-absent',
  ],
  units: ['ssh.service', 'otelcol-contrib.service', 'tempo.service'],
};
const REQ = { timeoutMs: 30_000 };

let pool: ConnectionPool;
let hosts: HostRef[];
const caches = new Map<string, ProbeCache>();

async function pass(): Promise<{ ms: number; observed: ObservedHost[] }> {
  const started = performance.now();
  const observed = await Promise.all(
    hosts.map(async (h) => {
      const cache = caches.get(h.name) ?? new Map();
      caches.set(h.name, cache);
      return probeHost(await pool.connection(h), targets, cache, REQ);
    }),
  );
  return { ms: performance.now() - started, observed };
}

const snapshot = () =>
  new Map(hosts.map((h): [string, TransportCounters] => [h.name, pool.counters(h.name)]));

beforeAll(() => {
  pool = new ConnectionPool({ connectTimeoutMs: 30_000 });
  hosts = labHosts();
});
afterAll(() => pool.closeAll());

describe('probe of every lab host', () => {
  it('warm: one round trip per host, no new channel, no new connection', async () => {
    const cold = await pass();
    console.log(
      `cold probe of ${hosts.length} hosts (connect + first channel + hashing): ${cold.ms.toFixed(0)} ms`,
    );
    expect(cold.observed.map((o) => o.facts.hostname)).toEqual(hosts.map((h) => h.name));

    const before = snapshot();
    const warm = await pass();
    const after = snapshot();
    for (const h of hosts) {
      const b = before.get(h.name) as TransportCounters;
      const a = after.get(h.name) as TransportCounters;
      expect(
        [
          a.requests - b.requests,
          a.channelsOpened - b.channelsOpened,
          a.connectionsOpened - b.connectionsOpened,
        ],
        h.name,
      ).toEqual([1, 0, 0]);
    }
    expect(warm.observed).toEqual(cold.observed);

    const times = [warm.ms];
    for (let i = 0; i < 9; i++) times.push((await pass()).ms);
    times.sort((x, y) => x - y);
    console.log(
      `warm no-drift probe of ${hosts.length} hosts (${targets.paths.length} paths, ${targets.units.length} units each): ` +
        `median ${times[5]?.toFixed(0)} ms, min ${times[0]?.toFixed(0)} ms, max ${times[9]?.toFixed(0)} ms over 10 passes`,
    );
  });
});
