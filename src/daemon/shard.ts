import { createHash } from 'node:crypto';

/**
 * Which live member owns a host: rendezvous (highest random weight) hashing, Thaler & Ravishankar 1998. Every
 * daemon computes the same answer from the same member set, with no coordination beyond agreeing on that set;
 * when a member joins or leaves, only the hosts it wins or held move (about 1/N of them), the rest stay put.
 *
 * Groundwork for several daemons on etcd (issue 17): the member set comes from etcd leases, and ownership is
 * fenced there before any write; this function only says who should own what.
 */
export function ownerOf(host: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const m of members) {
    const w = weight(m, host);
    // Ties (astronomically unlikely with 64 bits) go to the smaller name, so every daemon agrees.
    if (w > bestWeight || (w === bestWeight && best !== undefined && m < best)) {
      best = m;
      bestWeight = w;
    }
  }
  return best;
}

/** The hosts `member` owns among `hosts`, for the member set `members`. */
export function ownedHosts(member: string, hosts: readonly string[], members: readonly string[]): string[] {
  return hosts.filter((h) => ownerOf(h, members) === member);
}

function weight(member: string, host: string): bigint {
  // NUL cannot appear in a member or host name, so ("a", "bc") and ("ab", "c") hash differently.
  return createHash('sha256').update(`${member}\0${host}`).digest().readBigUInt64BE(0);
}

/** An ownership key as etcd holds it: the member named in it, the lease it lives under, its create revision. */
export interface OwnerRecord {
  member: string;
  lease: string;
  /** The key's create revision: the fencing token of this claim. */
  token: string;
}

/** What one member should do about ownership, given what etcd says now. */
export interface OwnershipPlan {
  /** Hosts it owns now (its key, under its lease), with their fencing tokens. */
  owned: Map<string, string>;
  /** Hosts rendezvous gives it whose key is free: claim them (create the key under its lease). */
  claim: string[];
  /** Hosts it holds but should not (another member won them, or they left the desired state): release. */
  release: string[];
}

/**
 * Decides a member's claims and releases (pure). A host moves only through a free key: the member that loses it
 * releases it (after its pass on it ends), the one that wins it claims it once the key is gone, so two members
 * never hold one host, and a member holding a key of an old lease of its own waits for that key to lapse.
 */
export function planOwnership(
  me: string,
  lease: string,
  hosts: readonly string[],
  members: readonly string[],
  owners: ReadonlyMap<string, OwnerRecord>,
): OwnershipPlan {
  const plan: OwnershipPlan = { owned: new Map(), claim: [], release: [] };
  const wanted = new Set(hosts);
  for (const h of hosts) {
    const rec = owners.get(h);
    const mine = rec?.member === me && rec.lease === lease;
    const winner = ownerOf(h, members) === me;
    if (mine && winner) plan.owned.set(h, rec.token);
    else if (mine) plan.release.push(h);
    else if (winner && !rec) plan.claim.push(h);
  }
  for (const [h, rec] of owners)
    if (!wanted.has(h) && rec.member === me && rec.lease === lease) plan.release.push(h);
  return plan;
}
