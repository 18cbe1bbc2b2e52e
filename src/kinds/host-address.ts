import type { HostRef, Snapshot } from '../core/model.js';

/**
 * The address at which `from` reaches the Host named `target`. A host reaching itself uses the loopback
 * address: it works whether a service listens on 0.0.0.0 or only on 127.0.0.1 (Debian's Prometheus), and it
 * does not depend on the host resolving its own DNS name. An unknown name (the loader reports it before
 * anything renders) falls back to the name itself, to be resolved by DNS.
 */
export function addressFrom(snapshot: Snapshot, from: HostRef, target: string): string {
  if (target === from.name) return '127.0.0.1';
  return snapshot.hosts.find((h) => h.name === target)?.address ?? target;
}

/** `address:port`, with an IPv6 address in brackets as URLs and Go's net.Dial require. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
