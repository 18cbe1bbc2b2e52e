import { describe, expect, it } from 'vitest';
import { ownedHosts, ownerOf } from '../../../src/daemon/shard.js';

// Rendezvous hashing: the assignment rules several daemons will rely on (issue 17).
const hosts = Array.from({ length: 3000 }, (_, i) => `host-${String(i).padStart(4, '0')}`);

describe('ownerOf', () => {
  it('gives every host exactly one owner, the same whatever the order of the member list', () => {
    const members = ['daemon-a', 'daemon-b', 'daemon-c'];
    const parts = members.map((m) => ownedHosts(m, hosts, members));
    expect(parts.flat().sort()).toEqual([...hosts].sort());
    for (const h of hosts.slice(0, 200)) expect(ownerOf(h, [...members].reverse())).toBe(ownerOf(h, members));
    expect(ownerOf('x', [])).toBeUndefined();
  });

  it('spreads hosts evenly (each of 3 members within 10 % of a third)', () => {
    const members = ['daemon-a', 'daemon-b', 'daemon-c'];
    for (const m of members) {
      const share = ownedHosts(m, hosts, members).length / hosts.length;
      expect(share).toBeGreaterThan(0.3);
      expect(share).toBeLessThan(0.367);
    }
  });

  it('moves only the leaving member’s hosts when one leaves, and only the hosts the newcomer wins when one joins', () => {
    const three = ['daemon-a', 'daemon-b', 'daemon-c'];
    const two = ['daemon-a', 'daemon-c'];
    for (const h of hosts) {
      const before = ownerOf(h, three);
      if (before !== 'daemon-b') expect(ownerOf(h, two)).toBe(before);
    }
    const four = [...three, 'daemon-d'];
    const moved = hosts.filter((h) => ownerOf(h, four) !== ownerOf(h, three));
    expect(moved.every((h) => ownerOf(h, four) === 'daemon-d')).toBe(true);
    // About a quarter of the hosts move to the newcomer: 1/N, not a reshuffle.
    expect(moved.length / hosts.length).toBeGreaterThan(0.2);
    expect(moved.length / hosts.length).toBeLessThan(0.3);
  });
});
