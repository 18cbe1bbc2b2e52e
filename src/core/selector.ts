import type { FileSpec } from '../generated/crd-types.js';
import type { HostRef } from './model.js';

/** The `hostSelector` every kind but Host shares (its CRD text is generated once for all of them). */
export type LabelSelector = NonNullable<FileSpec['hostSelector']>;

/** How a resource picks its hosts: exactly one of the two is set (the loader enforces it). */
export interface HostSelection {
  hostSelector?: LabelSelector;
  hosts?: string[];
}

/** Kubernetes label-selector semantics: all terms must hold; an empty selector matches every host. */
export function matchesSelector(labels: Record<string, string>, sel: LabelSelector): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    const ok =
      e.operator === 'In'
        ? inValues
        : e.operator === 'NotIn'
          ? !inValues
          : e.operator === 'Exists'
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

/** The hosts a resource applies to, in inventory order. Unknown names in `hosts` are skipped (the loader reports them). */
export function selectHosts(sel: HostSelection, hosts: readonly HostRef[]): HostRef[] {
  if (sel.hosts) return hosts.filter((h) => sel.hosts!.includes(h.name));
  if (sel.hostSelector) return hosts.filter((h) => matchesSelector(h.labels, sel.hostSelector!));
  return [];
}
