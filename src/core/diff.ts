import { createHash } from 'node:crypto';
import { createTwoFilesPatch } from 'diff';
import { parseDocument } from 'yaml';
import { compareDebianVersions } from './debian-version.js';
import type {
  CheckIntent,
  FileIntent,
  HostIntent,
  ManagedFile,
  ObservedFile,
  ObservedHost,
  PackageIntent,
  ResourceRef,
  ServiceIntent,
} from './model.js';
import { MASK, redactText } from './redact.js';
import type { HeldResource } from './versions.js';
import { MAX_EXPANDED_NODES, expandedSize } from './yaml-bounds.js';

/**
 * Pure diff of one host: desired intent against what the probe observed. Plain data, in the spirit of Flux's
 * `created / configured / unchanged / deleted`: the planner prints it, apply executes it.
 */
export type FileAction = 'create' | 'update' | 'unchanged' | 'delete';
export type FileAspect = 'content' | 'mode' | 'owner' | 'group' | 'type';
export type ServiceAction = 'start' | 'stop' | 'enable' | 'disable' | 'reload' | 'restart';

export interface FileChange {
  path: string;
  action: FileAction;
  /** What differs (empty for create/delete/unchanged). */
  changed: FileAspect[];
  resource: ResourceRef;
  /** The desired file (absent for delete). */
  intent?: FileIntent;
  /** Unified diff, secrets masked; absent when contents were not fetched or for unchanged files. */
  diff?: string;
  /** delete only: the version found before hostop first managed the path is put back instead. */
  restoresOriginal?: boolean;
}

export interface ServiceChange {
  unit: string;
  actions: ServiceAction[];
  /** Why, for people: "notified by /etc/otelcol-contrib/config.yaml", "is inactive, wants running". */
  reasons: string[];
  resource: ResourceRef;
  intent: ServiceIntent;
}

export type PackageAction = 'install' | 'upgrade' | 'downgrade' | 'remove';

export interface PackageChange {
  name: string;
  action: PackageAction;
  /** The installed version (upgrade, downgrade, remove). */
  from?: string;
  /** The declared version (install without one: whatever the source has). */
  to?: string;
  /** Where it comes from, for people: "apt", "packages/x_1.0_amd64.deb", a URL. */
  source: string;
  resource: ResourceRef;
  intent: PackageIntent;
}

export interface HostPlan {
  host: string;
  /** Converged first: a file or unit may come from a package. */
  packages: PackageChange[];
  files: FileChange[];
  services: ServiceChange[];
  checks: CheckIntent[];
  /** Paths whose content must be fetched to finish the diff (semantic compare or a diff to show). */
  needsContent: string[];
  /** Resources left alone on this host (their component's installed version is not the declared one). */
  held: HeldResource[];
}

export interface DiffOptions {
  /** Current contents of some files (fetched on request), by path. */
  contents?: Record<string, string>;
  /** Files hostop manages on this host according to its inventory there. */
  managed?: Record<string, ManagedFile>;
  /** Delete managed files whose resource left the desired state (default true). */
  prune?: boolean;
  /** Ask for contents of changed text files too, so a diff can be shown (plan); apply skips it. */
  wantDiffs?: boolean;
  /** Resources whose files and units are left as they are (neither written, reloaded nor pruned). */
  held?: HeldResource[];
}

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function diffHost(intent: HostIntent, observed: ObservedHost, opts: DiffOptions = {}): HostPlan {
  const files: FileChange[] = [];
  const needsContent: string[] = [];
  const held = opts.held ?? [];
  const isHeld = (r: ResourceRef) =>
    held.some((h) => h.resource.kind === r.kind && h.resource.name === r.name);
  for (const f of intent.files) {
    if (isHeld(f.resource)) continue;
    const change = diffFile(f, observed.files[f.path], opts, needsContent);
    files.push(change);
  }
  if (opts.prune !== false) {
    const desired = new Set(intent.files.map((f) => f.path));
    // A suspended resource has not left the desired state: its files stay as they are.
    const suspended = new Set((intent.suspended ?? []).map((r) => `${r.kind}/${r.name}`));
    for (const [path, rec] of Object.entries(opts.managed ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      if (desired.has(path) || suspended.has(`${rec.kind}/${rec.name}`)) continue;
      const resource = { kind: rec.kind, name: rec.name };
      files.push({
        path,
        action: 'delete',
        changed: [],
        resource,
        ...(rec.original && { restoresOriginal: true }),
      });
    }
  }
  return {
    host: intent.host.name,
    packages: (intent.packages ?? []).flatMap((p) => (isHeld(p.resource) ? [] : diffPackage(p, observed))),
    files,
    services: diffServices(intent, observed, files).filter((s) => !isHeld(s.resource)),
    checks: intent.checks,
    needsContent,
    held,
  };
}

/**
 * A package against the installed version (`dpkg-query`: undefined/null when not installed). A declared version
 * is compared as dpkg compares them (an epoch written or not, `1:0.1` = `1:0.1`); without one, any installed
 * version satisfies.
 */
function diffPackage(p: PackageIntent, observed: ObservedHost): PackageChange[] {
  const installed = observed.packages?.[p.name] ?? undefined;
  const source = p.deb ? (p.deb.path ?? p.deb.url ?? 'deb') : 'apt';
  const base = { name: p.name, source, resource: p.resource, intent: p };
  if (p.state === 'absent') return installed ? [{ ...base, action: 'remove', from: installed }] : [];
  if (!installed) return [{ ...base, action: 'install', to: p.version }];
  if (p.version === undefined) return [];
  const order = compareDebianVersions(installed, p.version);
  if (order === 0) return [];
  return [{ ...base, action: order < 0 ? 'upgrade' : 'downgrade', from: installed, to: p.version }];
}

function diffFile(
  f: FileIntent,
  seen: ObservedFile | undefined,
  opts: DiffOptions,
  needsContent: string[],
): FileChange {
  const base = { path: f.path, resource: f.resource, intent: f };
  if (!seen || seen.type === 'missing') {
    return { ...base, action: 'create', changed: [], diff: unified(f.path, '', f.content, f.secrets) };
  }
  const changed: FileAspect[] = [];
  if (seen.type !== 'file') changed.push('type');
  else if (seen.sha256 !== sha256(f.content)) {
    const current = opts.contents?.[f.path];
    const structured =
      f.format !== 'text' && comparableBySize(f.format, seen.size ?? 0, Buffer.byteLength(f.content));
    if (current === undefined && (structured || opts.wantDiffs)) needsContent.push(f.path);
    // Until the content is known, a different hash counts as drift; a structured file whose parsed value is
    // the same (key order, quoting) does not.
    if (
      !(current !== undefined && structured && sameStructure(f.format as 'json' | 'yaml', current, f.content))
    ) {
      changed.push('content');
    }
  }
  if (seen.type === 'file') {
    if (normMode(seen.mode) !== normMode(f.mode)) changed.push('mode');
    if (seen.owner !== f.owner) changed.push('owner');
    if (seen.group !== f.group) changed.push('group');
  }
  if (changed.length === 0) return { ...base, action: 'unchanged', changed };
  const current = opts.contents?.[f.path];
  const diff =
    changed.includes('content') && current !== undefined
      ? unified(f.path, current, f.content, f.secrets)
      : undefined;
  return { ...base, action: 'update', changed, diff };
}

/**
 * The YAML library parses about 1.5 ms per KB on the lab machine (a flat 50,000-key mapping: 2 s for 590 KB), on
 * the event loop. So a host's YAML file is compared by value only when it is about the size of the desired one
 * and at most this big; otherwise by bytes (its hash differs: it is drift, and is rewritten). A formatting-only
 * difference never changes the size by that much; a file grown by a hostile or runaway writer is not parsed.
 */
export const MAX_SEMANTIC_YAML_BYTES = 128 * 1024;

/** Whether a host file of `hostBytes` may be compared by value with a desired one of `desiredBytes`. */
export function comparableBySize(
  format: FileIntent['format'],
  hostBytes: number,
  desiredBytes: number,
): boolean {
  if (format !== 'yaml') return format === 'json';
  return hostBytes <= MAX_SEMANTIC_YAML_BYTES && hostBytes <= 2 * desiredBytes + 16 * 1024;
}

/** Key order and formatting are not drift for JSON/YAML: compare the parsed values. Unparseable is drift. */
export function sameStructure(format: 'json' | 'yaml', a: string, b: string): boolean {
  const [small, big] = [a, b].map((t) => Buffer.byteLength(t)).sort((x, y) => x - y) as [number, number];
  if (!comparableBySize(format, big, small)) return false;
  try {
    const pa = format === 'json' ? JSON.parse(a) : boundedYaml(a);
    const pb = format === 'json' ? JSON.parse(b) : boundedYaml(b);
    return canonical(pa) === canonical(pb);
  } catch {
    return false;
  }
}

/**
 * The value of a YAML text (a file on a host is hostile input): a text whose aliases would expand it past
 * MAX_EXPANDED_NODES throws instead of expanding (and so compares as different: the file is rewritten).
 */
function boundedYaml(text: string): unknown {
  // Duplicate keys in a host's file: the last one wins, as in the components' own parsers (no quadratic check).
  const doc = parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length > 0) throw doc.errors[0];
  if (expandedSize(doc) > MAX_EXPANDED_NODES) throw new Error('alias expansion over the bound');
  return doc.toJS({ maxAliasCount: -1 });
}

/**
 * A parsed JSON/YAML value as a string that ignores key order (arrays keep theirs), compared as JSON compares:
 * -0 is 0. Not `util.isDeepStrictEqual`, which tells -0 from 0, so `-0` in a host's file would be drift. Unlike
 * JSON, `.nan` and `.inf` are not null, and a Date, Set or Map from an explicit YAML tag is its value, not `{}`.
 */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (v instanceof Date) return `date:${Number.isNaN(v.getTime()) ? 'invalid' : v.toISOString()}`;
  if (v instanceof Set) return `set:${canonical([...v])}`;
  if (v instanceof Map) return `map:${canonical(Object.fromEntries([...v].map(([k, x]) => [String(k), x])))}`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function lineCount(text: string): number {
  if (text === '') return 0;
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

function normMode(m: string | undefined): string {
  return (m ?? '').replace(/^0+(?=\d{3})/, '').padStart(4, '0');
}

/**
 * Beyond this many changed lines a line diff is not worth showing, and computing it is not safe: Myers' diff is
 * O(lines x edits) (worse in practice), so two unrelated 700 KB files kept `hostop plan` busy for minutes. Bounding the edit length
 * keeps the diff linear in the file size; past it a one-line summary says what changed.
 */
const MAX_DIFF_EDITS = 1000;

function unified(path: string, before: string, after: string, secrets: readonly string[]): string {
  // A file that is a secret as a whole (File.secret): neither version is shown, line by line or otherwise.
  if (secrets.includes(after) || secrets.includes(before))
    return `--- ${path}\n+++ ${path}\n@@ secret content, not shown @@\n`;
  const patch = createTwoFilesPatch(path, path, before, after, undefined, undefined, {
    context: 3,
    maxEditLength: MAX_DIFF_EDITS,
  });
  if (patch === undefined) {
    const size = (t: string) => `${lineCount(t)} lines, ${Buffer.byteLength(t)} bytes`;
    return `--- ${path}\n+++ ${path}\n@@ more than ${MAX_DIFF_EDITS} changed lines, not shown: ${size(before)} before, ${size(after)} after @@\n`;
  }
  // Drop the "Index:" / "=====" banner lines; keep ---/+++ and hunks.
  const body = patch
    .split('\n')
    .filter((l) => !l.startsWith('Index:') && !/^=+$/.test(l))
    .join('\n');
  return redactText(maskCredentialBlocks(maskFormerSecrets(body, after, secrets)), secrets);
}

/** A YAML line whose key names a credential (as redact's KEY_VALUE does), with its value. */
const CREDENTIAL_LINE =
  /^(\s*"?[\w.-]*?(?:password|passwd|token|secret|api[_-]?key|private[_-]?key|httpheadervalue\d*|tls[_-]?(?:client)?[_-]?key)"?\s*:)[ \t]*(.*)$/i;

/**
 * A value under a credential-named key is masked whole in every diff line, whatever it holds (a header value
 * with spaces, one hostop no longer declares and so does not know), and so is the body of a block scalar
 * (`tlsClientKey: |`) under such a key: every following line indented deeper than the key.
 */
function maskCredentialBlocks(body: string): string {
  let blockIndent = -1;
  return body
    .split('\n')
    .map((l, i) => {
      if (i < 2 || l.startsWith('@@') || l === '' || !' +-'.includes(l[0]!)) {
        blockIndent = -1;
        return l;
      }
      const sign = l[0]!;
      const content = l.slice(1);
      const indent = content.length - content.trimStart().length;
      if (blockIndent >= 0 && (content.trim() === '' || indent > blockIndent)) {
        return content.trim() === '' ? l : `${sign}${' '.repeat(indent)}${MASK}`;
      }
      blockIndent = -1;
      const m = CREDENTIAL_LINE.exec(content);
      if (!m || m[2] === '') return l;
      if (/^[|>]/.test(m[2]!)) {
        blockIndent = indent;
        return l;
      }
      return `${sign}${m[1]} ${MASK}`;
    })
    .join('\n');
}

/**
 * The desired secrets are known, but the values they replace on the host are not (a rotated password, an old
 * token): a removed line is masked from where a secret sits in the new file's line of the same beginning
 * (`  basicAuthPassword: `, `Environment="OTEL_EXPORTER_OTLP_HEADERS=Authorization=`). Over-masking a removed
 * line that only looks like a secret line is the accepted price.
 */
function maskFormerSecrets(body: string, after: string, secrets: readonly string[]): string {
  const prefixes = new Set<string>();
  // Indentations of secret lines inside a YAML block scalar (a TLS key): their former lines have no key.
  const blocks = new Set<string>();
  for (const line of after.split('\n')) {
    for (const s of secrets) {
      const at = s.length > 0 ? line.indexOf(s) : -1;
      if (at > 0 && line.slice(0, at).trim() !== '') prefixes.add(line.slice(0, at));
      else if (at > 0) blocks.add(line.slice(0, at));
    }
  }
  if (prefixes.size === 0 && blocks.size === 0) return body;
  return body
    .split('\n')
    .map((l, i) => {
      if (i < 2 || !l.startsWith('-')) return l; // the first two lines are the ---/+++ header
      const p = [...prefixes].find((x) => l.startsWith(x, 1));
      if (p !== undefined) return `-${p}${MASK}`;
      // A former key's body: base64 (PEM) lines and their BEGIN/END armour at a secret block's indentation.
      const b = [...blocks].find((x) => l.startsWith(x, 1) && KEY_MATERIAL.test(l.slice(1 + x.length)));
      return b === undefined ? l : `-${b}${MASK}`;
    })
    .join('\n');
}

const KEY_MATERIAL = /^(?:[A-Za-z0-9+/=]{16,}|-----(?:BEGIN|END) [A-Z0-9 ]+-----)$/;

/**
 * Service actions: run-state and enablement from the intent, plus one reload or restart per unit notified by a
 * changed file (never one per file). A unit about to be started needs no restart.
 */
function diffServices(intent: HostIntent, observed: ObservedHost, files: FileChange[]): ServiceChange[] {
  const out: ServiceChange[] = [];
  for (const svc of intent.services) {
    const seen = observed.units[svc.unit];
    const actions: ServiceAction[] = [];
    const reasons: string[] = [];
    const active = seen?.active === 'active' || seen?.active === 'reloading' || seen?.active === 'activating';
    if (svc.state === 'running' && !active) {
      actions.push('start');
      reasons.push(`is ${seen?.active ?? 'unknown'}, wants running`);
    }
    if (svc.state === 'stopped' && active) {
      actions.push('stop');
      reasons.push(`is ${seen?.active}, wants stopped`);
    }
    if (svc.enabled === true && seen?.enabled !== 'enabled') {
      actions.push('enable');
      reasons.push(`is ${seen?.enabled || 'not enabled'}, wants enabled`);
    }
    if (svc.enabled === false && seen?.enabled === 'enabled') {
      actions.push('disable');
      reasons.push('is enabled, wants disabled');
    }
    const touched = files.filter((f) => rewritesContent(f) && f.intent?.notify.includes(svc.unit));
    if (
      touched.length > 0 &&
      svc.state !== 'stopped' &&
      !actions.includes('start') &&
      (active || svc.state === 'running')
    ) {
      actions.push(svc.onChange);
      reasons.push(`notified by ${touched.map((f) => f.path).join(', ')}`);
    }
    if (actions.length > 0)
      out.push({ unit: svc.unit, actions, reasons, resource: svc.resource, intent: svc });
  }
  return out;
}

/** A new file or new content reaches the service; a mode or owner fix alone does not need a reload. */
export function rewritesContent(f: FileChange): boolean {
  return (
    f.action === 'create' ||
    (f.action === 'update' && (f.changed.includes('content') || f.changed.includes('type')))
  );
}

/** True when nothing needs doing on the host. */
export function planIsEmpty(plan: HostPlan): boolean {
  return (
    plan.packages.length === 0 &&
    plan.files.every((f) => f.action === 'unchanged') &&
    plan.services.length === 0 &&
    plan.held.length === 0
  );
}
