import type { KindLookup } from './kind-module.js';
import type {
  HostIntent,
  PackageIntent,
  Problem,
  Resource,
  ResourceRef,
  ServiceIntent,
  Snapshot,
} from './model.js';
import { type HostSelection, selectHosts } from './selector.js';
import { compareVersions, upstreamVersion } from './versions.js';

export interface RenderResult {
  intents: HostIntent[];
  /**
   * Conflicts between resources (one path or package claimed twice, one unit wanted in two states, a package
   * version that is not the one a component was rendered for) and unsafe paths.
   */
  problems: Problem[];
}

/** Resources that apply to hosts: every kind but `Host`, minus the suspended ones. */
export function activeResources(snapshot: Snapshot): Resource[] {
  return snapshot.resources.filter((r) => r.kind !== 'Host' && !isSuspended(r));
}

/**
 * The suspended resources, sorted: not rendered, and their files on every host stay as they are (neither
 * written nor pruned), whichever hosts they select now.
 */
export function suspendedResources(snapshot: Snapshot): ResourceRef[] {
  return snapshot.resources
    .filter((r) => r.kind !== 'Host' && isSuspended(r))
    .map((r) => ({ kind: r.kind, name: r.metadata.name }))
    .sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
}

function isSuspended(r: Resource): boolean {
  return (r.spec as { suspend?: boolean }).suspend === true;
}

/**
 * Pure: the intent of every host of the snapshot (sorted by host name, files by path, packages by name). A path
 * or a package claimed by two resources on one host is a problem naming both; the first claim wins in the
 * returned intent. A package version must be one the components rendered from it accept (`versionCoupling`).
 * Every intent names the suspended resources (when there are any), so that their files are not pruned.
 */
export function renderFleet(snapshot: Snapshot, kindOf: KindLookup): RenderResult {
  const problems: Problem[] = [];
  const byHost = new Map<string, HostIntent>();
  const claims = new Map<string, Resource>();
  const packageClaims = new Map<string, Resource>();
  for (const host of snapshot.hosts)
    byHost.set(host.name, { host, files: [], services: [], checks: [], versions: [] });
  for (const res of activeResources(snapshot)) {
    const kind = kindOf(res.kind);
    if (!kind) continue; // the loader has reported the unknown kind already
    for (const host of selectHosts(res.spec as HostSelection, snapshot.hosts)) {
      const intent = byHost.get(host.name)!;
      const part = kind.render(res, host, snapshot);
      for (const file of part.files ?? []) {
        const unsafe = unsafePath(file.path);
        if (unsafe) {
          problems.push(
            at(res, `${res.kind}/${res.metadata.name} renders ${JSON.stringify(file.path)}: ${unsafe}`),
          );
          continue;
        }
        const key = `${host.name}\0${file.path}`;
        const prior = claims.get(key);
        if (prior && prior !== res) {
          problems.push(
            at(
              res,
              `${file.path} on host ${host.name} is claimed by both ${prior.kind}/${prior.metadata.name} ` +
                `(${prior.source.file}:${prior.source.line}) and ${res.kind}/${res.metadata.name} ` +
                `(${res.source.file}:${res.source.line})`,
            ),
          );
          continue;
        }
        claims.set(key, res);
        intent.files.push(file);
      }
      for (const svc of part.services ?? []) mergeService(intent, svc, res, problems);
      intent.checks.push(...(part.checks ?? []));
      intent.versions.push(...(part.versions ?? []));
      for (const pkg of part.packages ?? []) addPackage(intent, pkg, res, packageClaims, problems);
    }
  }
  const intents = [...byHost.values()].sort((a, b) => a.host.name.localeCompare(b.host.name));
  const suspended = suspendedResources(snapshot);
  const byRef = new Map(snapshot.resources.map((r) => [refKey({ kind: r.kind, name: r.metadata.name }), r]));
  for (const i of intents) {
    i.files.sort((a, b) => a.path.localeCompare(b.path));
    i.packages?.sort((a, b) => a.name.localeCompare(b.name));
    addUnmanagedUnits(i);
    if (suspended.length > 0) i.suspended = suspended.map((r) => ({ ...r }));
    problems.push(...versionCoupling(i, byRef));
  }
  return { intents, problems };
}

/** The intents alone, for callers that work on an already validated snapshot. */
export function renderSnapshot(snapshot: Snapshot, kindOf: KindLookup): HostIntent[] {
  return renderFleet(snapshot, kindOf).intents;
}

/**
 * A package joins the host's intent (the array made on the first one, so intents without packages stay as they
 * were) unless another resource already declared it there: one package has one wanted state per host.
 */
function addPackage(
  intent: HostIntent,
  pkg: PackageIntent,
  res: Resource,
  claims: Map<string, Resource>,
  problems: Problem[],
): void {
  const key = `${intent.host.name}\0${pkg.name}`;
  const prior = claims.get(key);
  if (prior && prior !== res) {
    problems.push(
      at(
        res,
        `package ${pkg.name} on host ${intent.host.name} is declared by both ${describe(prior)} and ${describe(res)}`,
      ),
    );
    return;
  }
  claims.set(key, res);
  intent.packages ??= [];
  intent.packages.push(pkg);
}

/**
 * A component rendered for a version (OtelCollector, Tempo: a VersionIntent read from a Debian package) and a
 * Package that installs that package at a version must agree, or the host converges to a state in which the
 * component is held for ever. Compared as the probe later compares them (versions.ts, heldResources): the
 * package's upstream version against the declared one, equal for `exact`, at least for `minimum`. A package
 * declared absent contradicts any component that needs it.
 */
function versionCoupling(intent: HostIntent, byRef: Map<string, Resource>): Problem[] {
  const problems: Problem[] = [];
  for (const v of intent.versions) {
    if (!('package' in v.source)) continue;
    const name = v.source.package;
    const pkg = intent.packages?.find((p) => p.name === name);
    const owner = byRef.get(refKey(v.resource));
    const declarer = pkg && byRef.get(refKey(pkg.resource));
    if (!pkg || !owner || !declarer) continue;
    const wanted = v.match === 'exact' ? v.version : `${v.version} or newer`;
    const needs = `${describe(owner)} is rendered for ${v.component} ${wanted} (${v.why})`;
    if (pkg.state === 'absent') {
      problems.push(
        at(
          declarer,
          `package ${name} on host ${intent.host.name}: ${describe(declarer)} removes it, but ${needs}`,
          '/spec/state',
        ),
      );
      continue;
    }
    if (pkg.version === undefined) continue;
    const upstream = upstreamVersion(pkg.version);
    const cmp = compareVersions(upstream, v.version);
    if (v.match === 'exact' ? cmp === 0 : cmp >= 0) continue;
    problems.push(
      at(
        declarer,
        `package ${name} on host ${intent.host.name}: ${describe(declarer)} installs version ${pkg.version}` +
          `${upstream === pkg.version ? '' : ` (upstream ${upstream})`}, but ${needs}: make the versions agree`,
        '/spec/version',
      ),
    );
  }
  return problems;
}

/**
 * Several resources may name one unit (a datasource and a dashboard both restart grafana-server): they merge.
 * A restart subsumes a reload; two different wanted states are a conflict.
 */
function mergeService(intent: HostIntent, svc: ServiceIntent, res: Resource, problems: Problem[]): void {
  const prior = intent.services.find((s) => s.unit === svc.unit);
  if (!prior) {
    intent.services.push({ ...svc });
    return;
  }
  for (const field of ['state', 'enabled'] as const) {
    if (svc[field] === undefined) continue;
    if (prior[field] !== undefined && prior[field] !== svc[field]) {
      problems.push(
        at(
          res,
          `unit ${svc.unit} on host ${intent.host.name}: ${res.kind}/${res.metadata.name} wants ${field}=${svc[field]} ` +
            `but ${prior.resource.kind}/${prior.resource.name} wants ${field}=${prior[field]}`,
        ),
      );
      continue;
    }
    (prior as unknown as Record<string, unknown>)[field] = svc[field];
  }
  if (svc.onChange === 'restart') prior.onChange = 'restart';
  prior.health ??= svc.health;
  prior.reloadProof ??= svc.reloadProof;
}

/**
 * A unit that a file notifies and no resource manages on the host is restarted when the file changes (File's
 * CRD: "how, is decided by the Service or kind that manages the unit; restart when none does"). It gets a
 * service intent of its own, owned by the first file (by path) that notifies it, with neither run state nor
 * enablement to manage: so the probe reads its state, diff restarts it only while it runs (a unit that is
 * stopped or not installed is left alone), and apply confirms the restart as any other.
 */
function addUnmanagedUnits(intent: HostIntent): void {
  for (const f of intent.files)
    for (const unit of f.notify)
      if (!intent.services.some((s) => s.unit === unit))
        intent.services.push({ unit, onChange: 'restart', resource: f.resource });
}

/** Why a rendered path may not be written, or undefined when it is a normal absolute path. */
export function unsafePath(path: string): string | undefined {
  if (!path.startsWith('/')) return 'not an absolute path';
  if (/[\0\n\r]/.test(path)) return 'contains a NUL or line break';
  if (path.split('/').some((seg) => seg === '..' || seg === '.')) return 'contains a "." or ".." segment';
  if (path.includes('//') || path.endsWith('/')) return 'is not a normalised file path';
  return undefined;
}

/** `Kind/name (file:line)`, how a problem names a resource other than the one it points at. */
function describe(res: Resource): string {
  return `${res.kind}/${res.metadata.name} (${res.source.file}:${res.source.line})`;
}

function refKey(r: ResourceRef): string {
  return `${r.kind}/${r.name}`;
}

function at(res: Resource, message: string, path = ''): Problem {
  return { severity: 'error', file: res.source.file, line: res.source.line, path, message };
}
