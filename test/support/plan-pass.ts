import { serializeInventory } from '../../src/apply/host-inventory.js';
import { hostLayout } from '../../src/apply/host-scripts.js';
import type { HostPlan } from '../../src/core/diff.js';
import type { HostIntent, ManagedFile } from '../../src/core/model.js';
import type { HostOutcome } from '../../src/engine/outcome.js';
import { newHostMemory, reconcileHost } from '../../src/engine/reconcile-host.js';
import { type FakeFile, FakeHost, fakePool } from './fake-host.js';

/**
 * A host as a test describes it (test/cases/plan/<case>/observed.yaml): what is on it, which `fakeHost` turns
 * into an in-memory host (test/support/fake-host.ts) that hostop's probe then looks at. Anything not listed does
 * not exist on the host: a path is missing, a unit is not-found, a package or program is not installed, the
 * inventory is empty.
 */
export interface HostFixture {
  files?: Record<string, FileFixture>;
  /** systemd's view of each unit; `load` defaults to loaded. */
  units?: Record<string, { active: string; enabled: string; load?: string }>;
  /** Installed Debian package versions (as dpkg-query prints them). */
  packages?: Record<string, string>;
  /** `true`: the host has no dpkg-query, so no package version can be read (every package-versioned resource is held). */
  packagesUnreadable?: true;
  /** What `PROGRAM --version` prints, by program path. */
  programs?: Record<string, string>;
  /** hostop's inventory on the host (managed.json): the paths it manages and for which resource. */
  inventory?: Record<string, { kind: string; name: string; original?: boolean }>;
  /**
   * Each check's result from the host, by check name: `true` (default) its target accepts the connection, or why
   * the host's sshd refuses to open it (the check's message quotes it, as the SSH connection words it).
   */
  checks?: Record<string, true | string>;
}

export interface FileFixture {
  /** Default `file`; `missing` is the same as not listing the path; `other` is a FIFO, socket or device. */
  type?: FakeFile['type'] | 'missing';
  /** The file's exact bytes (UTF-8). */
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

/** What one pass of `hostop plan` made of a host described by a fixture. */
export interface PlannedHost {
  plan: HostPlan;
  /** The paths whose content the engine fetched from the host to finish the diff, in request order. */
  fetched: string[];
  outcome: HostOutcome;
}

/** The in-memory host that `fixture` describes; `intent` renders the files given as `desired: true`. */
export function fakeHost(intent: HostIntent, fixture: HostFixture): FakeHost {
  const name = intent.host.name;
  checkKeys(name, fixture, HOST_KEYS);
  const host = new FakeHost(intent.host);
  for (const [path, spec] of Object.entries(fixture.files ?? {})) {
    checkKeys(`${name}: ${path}`, spec, FILE_KEYS);
    const type = spec.type ?? 'file';
    if (type === 'missing') continue;
    const text = fileText(intent, path, spec);
    if (type === 'file' && text === undefined)
      throw new Error(`${name}: ${path}: a regular file needs content or desired: true`);
    if (type !== 'file' && text !== undefined)
      throw new Error(`${name}: ${path}: only a regular file has content`);
    host.write(path, text ?? '', {
      type,
      mode: spec.mode ?? '0644',
      owner: spec.owner ?? 'root',
      group: spec.group ?? 'root',
    });
  }
  for (const [unit, u] of Object.entries(fixture.units ?? {})) {
    if (!intent.services.some((s) => s.unit === unit))
      throw new Error(`${name}: unit ${unit} is listed but no service of the intent asks about it`);
    host.unit(unit, { active: u.active, enabled: u.enabled, ...(u.load !== undefined && { load: u.load }) });
  }
  for (const [p, version] of Object.entries(fixture.packages ?? {})) host.packages.set(p, version);
  if (fixture.packagesUnreadable !== undefined) {
    if (fixture.packagesUnreadable !== true) throw new Error(`${name}: packagesUnreadable must be true`);
    host.dpkgQuery = false;
  }
  for (const [p, said] of Object.entries(fixture.programs ?? {})) host.programs.set(p, said);
  if (fixture.inventory) {
    const files: Record<string, ManagedFile> = Object.fromEntries(
      Object.entries(fixture.inventory).map(([p, f]) => [
        p,
        { kind: f.kind, name: f.name, original: f.original ?? false },
      ]),
    );
    host.write(hostLayout.inventory, serializeInventory({ version: 1, files }), { mode: '0600' });
  }
  for (const check of Object.keys(fixture.checks ?? {}))
    if (!intent.checks.some((c) => c.name === check))
      throw new Error(`${name}: check ${check}: no such check`);
  for (const c of intent.checks) {
    const target = `${c.host}:${c.port}`;
    const result = fixture.checks?.[c.name] ?? true;
    if (host.tcp.has(target) && host.tcp.get(target) !== result)
      throw new Error(`${name}: check ${c.name}: another check reaches ${target} with another result`);
    host.tcp.set(target, result);
  }
  return host;
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

/**
 * One `hostop plan` pass over the host `fixture` describes, through the engine itself: reconcileHost in plan
 * mode, as cli/fleet-commands.ts runs it (a fresh memory, prune unless --no-prune, diffs wanted), over a
 * FakeHost that answers each script as the real one would. A pass that fails or writes anything fails the case.
 */
export async function planHost(
  intent: HostIntent,
  fixture: HostFixture,
  opts: { prune?: boolean } = {},
): Promise<PlannedHost> {
  const host = fakeHost(intent, fixture);
  const outcome = await reconcileHost(fakePool(host), intent, newHostMemory(), {
    apply: false,
    prune: opts.prune ?? true,
    wantDiffs: true,
  });
  const name = intent.host.name;
  if (outcome.error || !outcome.plan)
    throw new Error(`${name}: the pass ended ${outcome.status}: ${JSON.stringify(outcome.error)}`);
  const changing = host.ops().filter((op) => op !== 'probe' && op !== 'fetch');
  if (changing.length > 0) throw new Error(`${name}: a plan sent ${changing.join(', ')} to the host`);
  const fetched = host.requests.flatMap((r) => (r.op === 'fetch' ? r.paths : []));
  return { plan: outcome.plan, fetched, outcome };
}
