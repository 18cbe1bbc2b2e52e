import { mergeListItems } from './merge-yaml.js';
import type { HostIntent, ObservedHost, PackageIntent, ResourceRef, VersionIntent } from './model.js';

/**
 * Why a resource is held on a host: nothing of it is written, reloaded or pruned there until this clears (its
 * component's installed version is not the declared one, or a file it adds to is missing or unusable).
 */
export interface HeldResource {
  resource: ResourceRef;
  reason:
    | 'VersionMismatch'
    | 'NotInstalled'
    | 'VersionUnknown'
    | 'MergeTargetMissing'
    | 'MergeTargetUnusable';
  /** Names both versions (or what could not be read), for plan lines, conditions and events. */
  message: string;
}

/**
 * The upstream part of a Debian version as `dpkg-query` reports it: no epoch (`1:`), no Debian revision (`-1`,
 * `-1~deb12u1`), so `0.123.0` and `1:0.123.0-1` both read 0.123.0 (deb-version(7)).
 */
export function upstreamVersion(debian: string): string {
  const noEpoch = debian.replace(/^\d+:/, '');
  const dash = noEpoch.lastIndexOf('-');
  return dash > 0 ? noEpoch.slice(0, dash) : noEpoch;
}

/** -1, 0 or 1: numeric comparison of dot-separated leading numbers (`0.125.0` > `0.123.4`, `3.0` = `3.0.0`). */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.split(/[.+~]/).map((p) => Number.parseInt(p, 10) || 0);
  const x = parts(a);
  const y = parts(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/**
 * Pure: the resources whose declared component version the host does not have. One entry per resource (its
 * first failing version). A host whose versions could not be read at all holds every resource that declares one:
 * a config rendered for a version nobody can confirm is exactly the silent mistake this guards against.
 */
export function heldResources(versions: VersionIntent[], observed: ObservedHost): HeldResource[] {
  const held = new Map<string, HeldResource>();
  for (const v of versions) {
    const key = `${v.resource.kind}/${v.resource.name}`;
    if (held.has(key)) continue;
    const problem = versionProblem(v, observed);
    if (problem) held.set(key, { resource: v.resource, ...problem });
  }
  return [...held.values()];
}

/**
 * Pure: the host as it will be once its Package resources converge (they go first in a pass): a package declared
 * at a version counts as installed at it, one declared absent as missing. So a component whose version a
 * Package brings is planned for that version, not held for the one installed now; should the package fail,
 * the pass holds what waits for it (PackageFailed).
 */
export function afterPackages(packages: PackageIntent[], observed: ObservedHost): ObservedHost {
  if (packages.length === 0 || observed.packages === undefined) return observed;
  const next = { ...observed.packages };
  for (const p of packages) {
    if (p.state === 'absent') next[p.name] = null;
    else if (p.version !== undefined) next[p.name] = p.version;
  }
  return { ...observed, packages: next };
}

/** Pure: every Package resource, when the host's dpkg could not be read (no dpkg-query): nothing to compare with. */
export function heldPackages(packages: PackageIntent[], observed: ObservedHost): HeldResource[] {
  if (observed.packagesUnreadable === undefined) return [];
  return packages.map((p) => ({
    resource: p.resource,
    reason: 'VersionUnknown',
    message: `cannot read the installed packages on ${observed.host} (${observed.packagesUnreadable}); ${p.name} is left as it is`,
  }));
}

function versionProblem(
  v: VersionIntent,
  observed: ObservedHost,
): Omit<HeldResource, 'resource'> | undefined {
  const wanted = v.match === 'exact' ? v.version : `${v.version} or newer`;
  const what = 'package' in v.source ? v.component : `${v.component} (${v.source.program})`;
  let installed: string | null | undefined;
  if ('package' in v.source) {
    if (observed.packagesUnreadable !== undefined || observed.packages === undefined) {
      return {
        reason: 'VersionUnknown',
        message: `cannot read the installed version of ${what} on ${observed.host} (${observed.packagesUnreadable ?? 'not probed'}); the resource declares ${wanted}, which decides ${v.why}`,
      };
    }
    installed = observed.packages[v.source.package];
  } else {
    installed = observed.programs?.[v.source.program];
  }
  if (installed === undefined || installed === null) {
    return {
      reason: 'NotInstalled',
      message: `${what} is not installed on ${observed.host} (or reports no version); the resource declares ${wanted}, which decides ${v.why}`,
    };
  }
  const upstream = upstreamVersion(installed);
  const cmp = compareVersions(upstream, v.version);
  if (v.match === 'exact' ? cmp === 0 : cmp >= 0) return undefined;
  return {
    reason: 'VersionMismatch',
    message: `${v.component} ${upstream} is installed on ${observed.host} but the resource declares ${wanted}, which decides ${v.why}; nothing was changed`,
  };
}

/**
 * Pure: the intent for this pass with every merged file's content, mode, owner and group taken from the file
 * as the probe found it (contents inline) plus the owned items; and the resources held because such a file is
 * missing or cannot be merged. The input intent is not changed.
 */
export function resolveMerges(
  intent: HostIntent,
  observed: ObservedHost,
): { intent: HostIntent; held: HeldResource[] } {
  if (!intent.files.some((f) => f.merge)) return { intent, held: [] };
  const held: HeldResource[] = [];
  const files = intent.files.map((f) => {
    if (!f.merge) return f;
    const seen = observed.files[f.path];
    const current = observed.contents?.[f.path];
    if (seen?.type !== 'file' || current === undefined) {
      held.push({
        resource: f.resource,
        reason: 'MergeTargetMissing',
        message: `${f.path} is not a regular file on ${observed.host}; hostop only adds to it, so it must exist`,
      });
      return f;
    }
    const merged = mergeListItems(current, f.merge);
    if ('problem' in merged) {
      held.push({
        resource: f.resource,
        reason: 'MergeTargetUnusable',
        message: `${f.path} on ${observed.host}: ${merged.problem}; hostop adds to it and does not rewrite it`,
      });
      return f;
    }
    return { ...f, content: merged.content, mode: seen.mode!, owner: seen.owner!, group: seen.group! };
  });
  return { intent: { ...intent, files }, held };
}
