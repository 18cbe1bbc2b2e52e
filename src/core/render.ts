import type { KindLookup } from './kind-module.js';
import type { HostIntent, Problem, Resource, ServiceIntent, Snapshot } from './model.js';
import { type HostSelection, selectHosts } from './selector.js';

export interface RenderResult {
  intents: HostIntent[];
  /** Conflicts between resources (one path claimed twice, one unit wanted in two states) and unsafe paths. */
  problems: Problem[];
}

/** Resources that apply to hosts: every kind but `Host`, minus the suspended ones. */
export function activeResources(snapshot: Snapshot): Resource[] {
  return snapshot.resources.filter(
    (r) => r.kind !== 'Host' && (r.spec as { suspend?: boolean }).suspend !== true,
  );
}

/**
 * Pure: the intent of every host of the snapshot (sorted by host name, files by path). A path claimed by two
 * resources on one host is a problem naming both; the first claim wins in the returned intent.
 */
export function renderFleet(snapshot: Snapshot, kindOf: KindLookup): RenderResult {
  const problems: Problem[] = [];
  const byHost = new Map<string, HostIntent>();
  const claims = new Map<string, Resource>();
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
    }
  }
  const intents = [...byHost.values()].sort((a, b) => a.host.name.localeCompare(b.host.name));
  for (const i of intents) i.files.sort((a, b) => a.path.localeCompare(b.path));
  return { intents, problems };
}

/** The intents alone, for callers that work on an already validated snapshot. */
export function renderSnapshot(snapshot: Snapshot, kindOf: KindLookup): HostIntent[] {
  return renderFleet(snapshot, kindOf).intents;
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

/** Why a rendered path may not be written, or undefined when it is a normal absolute path. */
export function unsafePath(path: string): string | undefined {
  if (!path.startsWith('/')) return 'not an absolute path';
  if (/[\0\n\r]/.test(path)) return 'contains a NUL or line break';
  if (path.split('/').some((seg) => seg === '..' || seg === '.')) return 'contains a "." or ".." segment';
  if (path.includes('//') || path.endsWith('/')) return 'is not a normalised file path';
  return undefined;
}

function at(res: Resource, message: string): Problem {
  return { severity: 'error', file: res.source.file, line: res.source.line, path: '', message };
}
