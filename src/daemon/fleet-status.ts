import type { CoordinationStatus, PublishedStatus } from './coordinator.js';
import type { HostStatus, StatusSnapshot } from './status-document.js';

/** What the fleet view needs of the coordination (coordinator.ts). */
export interface FleetView {
  status(): CoordinationStatus;
  fleet(): { owners: ReadonlyMap<string, string>; statuses: ReadonlyMap<string, PublishedStatus> };
}

/**
 * `/status` of a daemon that shares the fleet: every host of the desired state with its owner; the hosts this
 * daemon owns as it knows them, the others as their owners last published them in etcd (a host whose owner has
 * not published yet shows as not probed). Events stay this daemon's own.
 */
export function fleetStatus(
  local: StatusSnapshot,
  hosts: readonly string[],
  view: FleetView,
): StatusSnapshot {
  const coordination = view.status();
  const { owners, statuses } = view.fleet();
  const localHosts = new Map(local.hosts.map((h) => [h.host, h]));
  const out: HostStatus[] = [];
  const resources = local.resources.filter((r) => owners.get(r.host) === coordination.member);
  const unowned: string[] = [];
  for (const host of [...hosts].sort()) {
    const owner = owners.get(host);
    if (owner === undefined) unowned.push(host);
    const mine = owner === coordination.member ? localHosts.get(host) : undefined;
    const published = mine ? undefined : statuses.get(host);
    if (published) resources.push(...published.resources.filter((r) => r.host === host));
    const known = mine ?? published?.host;
    out.push({
      ...(known ?? {
        host,
        reachable: false,
        lastProbeTime: '',
        lastError: { code: 'NotProbedYet', message: 'no status published for this host yet' },
      }),
      host,
      ...(owner === undefined ? {} : { owner }),
    });
  }
  resources.sort((a, b) =>
    `${a.host}\0${a.kind}\0${a.name}`.localeCompare(`${b.host}\0${b.kind}\0${b.name}`),
  );
  return { ...local, hosts: out, resources, coordination: { ...coordination, unowned } };
}
