import { parseInventory, serializeInventory } from '../../src/apply/host-inventory.js';
import { type HostPlan, diffHost, planIsEmpty, sha256 } from '../../src/core/diff.js';
import type { HostIntent, ManagedFile, ObservedFile, ObservedHost } from '../../src/core/model.js';
import { heldResources, resolveMerges } from '../../src/core/versions.js';
import type { CheckOutcome, HostOutcome, ResourceOutcome } from '../../src/engine/outcome.js';

/**
 * A host as a test describes it (test/cases/plan/<case>/observed.yaml): what hostop's probe would report there.
 * Anything not listed does not exist on the host: a path is missing, a unit is not-found, a package or program is
 * not installed, the inventory is empty.
 */
export interface HostFixture {
  files?: Record<string, FileFixture>;
  /** systemd's view of each unit; `load` defaults to loaded. */
  units?: Record<string, { active: string; enabled: string; load?: string }>;
  /** Installed Debian package versions (as dpkg-query prints them). */
  packages?: Record<string, string>;
  /** `dpkg-query` could not run: why (every package-versioned resource is then held). */
  packagesUnreadable?: string;
  /** What `PROGRAM --version` reported, by program path. */
  programs?: Record<string, string>;
  /** hostop's inventory on the host (managed.json): the paths it manages and for which resource. */
  inventory?: Record<string, { kind: string; name: string; original?: boolean }>;
  /** Each check's result from the host, by check name: `true` (default) reachable, or why not. */
  checks?: Record<string, true | string>;
}

export interface FileFixture {
  /** Default `file`; `missing` is the same as not listing the path. */
  type?: ObservedFile['type'];
  /** The file's exact bytes (UTF-8); sha256 and size are computed from them, and the plan can fetch them. */
  content?: string;
  /** The file holds exactly what hostop renders for this path (then `replace` edits it). */
  desired?: boolean;
  /** Edits to the rendered content (`desired: true`): each `from` must occur; its first occurrence becomes `to`. */
  replace?: { from: string; to: string }[];
  /** Default 0644 root:root, for every type but missing. */
  mode?: string;
  owner?: string;
  group?: string;
}

const HOST_KEYS = ['files', 'units', 'packages', 'packagesUnreadable', 'programs', 'inventory', 'checks'];
const FILE_KEYS = ['type', 'content', 'desired', 'replace', 'mode', 'owner', 'group'];

/** A misspelt key would silently describe another host: refuse it. */
function checkKeys(where: string, value: object, known: string[]): void {
  for (const k of Object.keys(value))
    if (!known.includes(k))
      throw new Error(`${where}: unknown key ${JSON.stringify(k)} (known: ${known.join(', ')})`);
}

/** What one pass of `hostop plan` (engine/reconcile-host.ts, observe) makes of a host described by `fixture`. */
export interface PlannedHost {
  observed: ObservedHost;
  plan: HostPlan;
  /** The paths whose content the first diff asked for (fetched from the host before the second one). */
  fetched: string[];
  outcome: HostOutcome;
}

/** The probe's report of `fixture` for the paths, units, packages and programs that `intent` asks about. */
export function observedHost(intent: HostIntent, fixture: HostFixture): ObservedHost {
  const host = intent.host.name;
  checkKeys(host, fixture, HOST_KEYS);
  const files: ObservedHost['files'] = {};
  const contents: Record<string, string> = {};
  for (const f of intent.files) files[f.path] = { path: f.path, type: 'missing' };
  for (const [path, spec] of Object.entries(fixture.files ?? {})) {
    checkKeys(`${host}: ${path}`, spec, FILE_KEYS);
    // The probe looks only at the paths of the intent; others may be listed for the reader (a pruned file).
    if (!(path in files)) continue;
    const type = spec.type ?? 'file';
    if (type === 'missing') {
      files[path] = { path, type };
      continue;
    }
    const meta = { mode: spec.mode ?? '0644', owner: spec.owner ?? 'root', group: spec.group ?? 'root' };
    const text = fileText(intent, path, spec);
    if (type !== 'file' || text === undefined) {
      if (type === 'file') throw new Error(`${host}: ${path}: a regular file needs content or desired: true`);
      files[path] = { path, type, size: 4096, ...meta };
      continue;
    }
    contents[path] = text;
    files[path] = { path, type, sha256: sha256(text), size: Buffer.byteLength(text), ...meta };
  }
  const units: ObservedHost['units'] = {};
  for (const s of intent.services) {
    const u = fixture.units?.[s.unit];
    units[s.unit] = u
      ? { unit: s.unit, active: u.active, enabled: u.enabled, load: u.load ?? 'loaded' }
      : { unit: s.unit, active: 'inactive', enabled: '', load: 'not-found' };
  }
  for (const u of Object.keys(fixture.units ?? {}))
    if (!units[u]) throw new Error(`${host}: unit ${u} is listed but no service of the intent asks about it`);
  const packages = intent.versions.flatMap((v) => ('package' in v.source ? [v.source.package] : []));
  const programs = intent.versions.flatMap((v) => ('program' in v.source ? [v.source.program] : []));
  const merged = intent.files.filter((f) => f.merge).map((f) => f.path);
  return {
    host,
    facts: { hostname: host, os: 'Debian GNU/Linux 12 (bookworm)', systemd: true },
    files,
    units,
    // Merged files come inline with the probe: their content is part of what must be written.
    ...(merged.length > 0 && {
      contents: Object.fromEntries(merged.flatMap((p) => (p in contents ? [[p, contents[p]!]] : []))),
    }),
    ...(packages.length > 0 &&
      (fixture.packagesUnreadable !== undefined
        ? { packagesUnreadable: fixture.packagesUnreadable }
        : { packages: Object.fromEntries(packages.map((p) => [p, fixture.packages?.[p] ?? null])) })),
    ...(programs.length > 0 && {
      programs: Object.fromEntries(programs.map((p) => [p, fixture.programs?.[p] ?? null])),
    }),
  };
}

function fileText(intent: HostIntent, path: string, spec: FileFixture): string | undefined {
  if (spec.content !== undefined && spec.desired)
    throw new Error(`${path}: content and desired: true both set`);
  if (spec.content !== undefined) return spec.content;
  if (!spec.desired) return undefined;
  const rendered = intent.files.find((f) => f.path === path);
  if (!rendered) throw new Error(`${path}: desired: true, but hostop renders no such file for this host`);
  let text = rendered.content;
  for (const { from, to } of spec.replace ?? []) {
    if (!text.includes(from)) throw new Error(`${path}: replace: ${JSON.stringify(from)} does not occur`);
    text = text.replace(from, () => to);
  }
  return text;
}

/** Files the plan may fetch (fetchFiles): regular files of at most 1 MiB whose bytes the fixture gives. */
function fetch(observed: ObservedHost, fixture: HostFixture, intent: HostIntent, paths: string[]) {
  const out: Record<string, string> = {};
  for (const p of paths) {
    const spec = fixture.files?.[p];
    if (!spec || observed.files[p]?.type !== 'file') continue;
    const text = fileText(intent, p, spec);
    if (text !== undefined && Buffer.byteLength(text) <= 1024 * 1024) out[p] = text;
  }
  return out;
}

/**
 * One `hostop plan` pass over a host, without the transport: the same steps as engine/reconcile-host.ts
 * `observe` (inventory, merged files, held resources, a first diff, the contents it asks for, a second diff) and
 * the outcome `reconcileHost` returns for a plan. Keep in step with those two.
 */
export function planHost(
  intent: HostIntent,
  fixture: HostFixture,
  opts: { prune?: boolean } = {},
): PlannedHost {
  const observed = observedHost(intent, fixture);
  // Through the real serializer and parser: an inventory the parser refuses fails the case.
  const managed: Record<string, ManagedFile> = Object.fromEntries(
    Object.entries(fixture.inventory ?? {}).map(([p, f]) => [
      p,
      { kind: f.kind, name: f.name, original: f.original ?? false },
    ]),
  );
  const inventory = parseInventory(serializeInventory({ version: 1, files: managed }), intent.host.name);
  const resolved = resolveMerges(intent, observed);
  const contents: Record<string, string> = {};
  for (const f of intent.files.filter((x) => x.merge)) {
    const current = observed.contents?.[f.path];
    if (current !== undefined) contents[f.path] = current;
  }
  const diffOpts = {
    contents,
    managed: inventory.files,
    prune: opts.prune ?? true,
    wantDiffs: true,
    held: [...heldResources(intent.versions, observed), ...resolved.held],
  };
  let plan = diffHost(resolved.intent, observed, diffOpts);
  const fetched = plan.needsContent;
  if (plan.needsContent.length > 0) {
    Object.assign(contents, fetch(observed, fixture, intent, plan.needsContent));
    plan = diffHost(resolved.intent, observed, diffOpts);
  }
  const checks: CheckOutcome[] = intent.checks.map((c) => {
    const result = fixture.checks?.[c.name] ?? true;
    const where = `${c.host}:${c.port}`;
    return {
      name: c.name,
      resource: c.resource,
      ok: result === true,
      message:
        result === true
          ? `${where} reachable from ${intent.host.name}`
          : `${where} not reachable from ${intent.host.name}: ${result}`,
    };
  });
  for (const name of Object.keys(fixture.checks ?? {}))
    if (!intent.checks.some((c) => c.name === name)) throw new Error(`check ${name}: no such check`);
  const empty = planIsEmpty(plan);
  const outcome: HostOutcome = {
    host: intent.host.name,
    status: empty ? 'in-sync' : 'drifted',
    plan,
    resources: empty ? [] : driftedResources(plan),
    checks,
    durationMs: 0,
  };
  return { observed, plan, fetched, outcome };
}

/** As engine/reconcile-host.ts driftedResources (not exported there): one outcome per resource with changes. */
function driftedResources(plan: HostPlan): ResourceOutcome[] {
  const seen = new Map<string, ResourceOutcome>();
  for (const h of plan.held) {
    seen.set(`${h.resource.kind}/${h.resource.name}`, {
      ...h.resource,
      result: 'held',
      reason: h.reason,
      message: h.message,
    });
  }
  for (const f of plan.files) {
    if (f.action === 'unchanged' || seen.has(`${f.resource.kind}/${f.resource.name}`)) continue;
    seen.set(`${f.resource.kind}/${f.resource.name}`, {
      kind: f.resource.kind,
      name: f.resource.name,
      result: 'drifted',
      message: `${f.path}: ${f.action}${f.changed.length ? ` (${f.changed.join(', ')})` : ''}`,
    });
  }
  for (const s of plan.services) {
    const k = `${s.resource.kind}/${s.resource.name}`;
    if (!seen.has(k))
      seen.set(k, {
        kind: s.resource.kind,
        name: s.resource.name,
        result: 'drifted',
        message: `${s.unit}: ${s.actions.join(', ')}`,
      });
  }
  return [...seen.values()];
}
