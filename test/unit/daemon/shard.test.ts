import { describe, expect, it } from 'vitest';
import { type OwnerRecord, ownedHosts, ownerOf, planOwnership } from '../../../src/daemon/shard.js';

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

describe('planOwnership', () => {
  const hosts = Array.from({ length: 40 }, (_, i) => `h${i}`);
  const members = ['a', 'b', 'c'];

  it('claims the free hosts rendezvous gives a member, and only those', () => {
    const plan = planOwnership('a', 'L1', hosts, members, new Map());
    expect(plan.claim).toEqual(hosts.filter((h) => ownerOf(h, members) === 'a'));
    expect(plan.owned.size).toBe(0);
    expect(plan.release).toEqual([]);
  });

  it('keeps what it holds under its lease, and waits for a key someone else holds', () => {
    const mine = hosts.filter((h) => ownerOf(h, members) === 'a');
    const owners = new Map<string, OwnerRecord>(
      mine.map((h, i) => [h, { member: 'a', lease: 'L1', token: `${100 + i}` }]),
    );
    owners.set(mine[0]!, { member: 'b', lease: 'L2', token: '7' }); // not yet released by b
    const plan = planOwnership('a', 'L1', hosts, members, owners);
    expect(plan.claim).toEqual([]);
    expect([...plan.owned.keys()]).toEqual(mine.slice(1));
    expect(plan.owned.get(mine[1]!)).toBe('101');
  });

  it('releases hosts another member wins and hosts that left; waits on a key of its own old lease', () => {
    const owners = new Map<string, OwnerRecord>(
      hosts.map((h) => [h, { member: 'a', lease: 'L1', token: '1' }]),
    );
    owners.set('gone', { member: 'a', lease: 'L1', token: '2' });
    const plan = planOwnership('a', 'L1', hosts, members, owners);
    expect(plan.release.sort()).toEqual([...hosts.filter((h) => ownerOf(h, members) !== 'a'), 'gone'].sort());
    const stale = planOwnership('a', 'L9', hosts, members, owners);
    expect(stale).toEqual({ owned: new Map(), claim: [], release: [] });
  });
});
