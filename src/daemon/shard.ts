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
