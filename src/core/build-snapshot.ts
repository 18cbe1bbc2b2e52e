import { checkCollectorRoutes } from './collector-routes.js';
import type { KindLookup } from './kind-module.js';
import {
  API_VERSION,
  type HostIntent,
  type HostRef,
  type Problem,
  type Resource,
  type Snapshot,
  type SourceFile,
} from './model.js';
import { type ParsedDocument, parseDocuments } from './parse-documents.js';
import { renderFleet } from './render.js';
import { type KindSchema, describeSchemaErrors } from './schemas.js';
import { type HostSelection, selectHosts } from './selector.js';

export interface BuildResult {
  /** Present only when there is no error (warnings allowed). */
  snapshot?: Snapshot;
  /** The snapshot rendered, one intent per host (rendered once, while checking it): present with the snapshot. */
  intents?: HostIntent[];
  /** Every problem found, errors and warnings, sorted by file and line. */
  problems: Problem[];
}

export interface BuildOptions {
  /** Host resources that replace same-named hosts of the directory (or add new ones): a lab or an environment. */
  inventory?: SourceFile[];
  revision?: string;
}

/** metadata.name: a lowercase DNS subdomain, as Kubernetes has it. */
export const RESOURCE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
/** A Kubernetes qualified name: optional DNS-subdomain prefix and `/`, then a name of at most 63 characters. */
const QUALIFIED_KEY =
  /^(?:(?=[a-z0-9.-]{1,253}\/)[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const TOP_LEVEL = new Set(['apiVersion', 'kind', 'metadata', 'spec']);

/**
 * Pure: files -> validated snapshot. Reports **all** problems at once (syntax, schema, duplicates, unknown
 * hosts, senders without a matching collector pipeline, conflicting claims, unsafe paths), each naming file, line
 * and JSON path. Never throws for bad input.
 */
export function buildSnapshot(
  files: SourceFile[],
  schemas: Map<string, KindSchema>,
  kindOf: KindLookup,
  opts: BuildOptions = {},
): BuildResult {
  const problems: Problem[] = [];
  const docs = new Map<Resource, ParsedDocument>();
  const fromDir = collect(files, schemas, kindOf, problems, docs);
  const fromInventory = collect(opts.inventory ?? [], schemas, kindOf, problems, docs);
  for (const r of fromInventory.filter((r) => r.kind !== 'Host')) {
    problems.push(
      err(r.source.file, r.source.line, '/kind', `an inventory holds only Host resources, not ${r.kind}`),
    );
  }
  const inventoryHosts = fromInventory.filter((r) => r.kind === 'Host');
  const overridden = new Set(inventoryHosts.map((h) => h.metadata.name));
  const resources = [
    ...fromDir.filter((r) => !(r.kind === 'Host' && overridden.has(r.metadata.name))),
    ...inventoryHosts,
  ];

  checkDuplicates(resources, problems);
  const hosts = resources.filter((r) => r.kind === 'Host').map(toHostRef);
  hosts.sort((a, b) => a.name.localeCompare(b.name));
  const snapshot: Snapshot = { resources, hosts, revision: opts.revision, warnings: [] };
  const lineOf = (r: Resource, path: string) => docs.get(r)?.lineOf(path) ?? r.source.line;
  checkSelections(snapshot, kindOf, problems, lineOf);
  problems.push(...checkCollectorRoutes(snapshot, lineOf));
  const rendered = problems.some((p) => p.severity === 'error') ? undefined : renderFleet(snapshot, kindOf);
  problems.push(...(rendered?.problems ?? []));

  problems.sort((a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0));
  if (!rendered || problems.some((p) => p.severity === 'error')) return { problems };
  snapshot.warnings = problems;
  return { snapshot, intents: rendered.intents, problems };
}

function collect(
  files: SourceFile[],
  schemas: Map<string, KindSchema>,
  kindOf: KindLookup,
  problems: Problem[],
  docs: Map<Resource, ParsedDocument>,
): Resource[] {
  const out: Resource[] = [];
  for (const f of files) {
    if (f.text === undefined) {
      problems.push(err(f.file, 1, '', f.refused ?? 'file could not be read'));
      continue;
    }
    const parsed = parseDocuments(f.file, f.text);
    problems.push(...parsed.problems);
    for (const doc of parsed.docs) {
      const res = toResource(doc, schemas, kindOf, problems);
      if (res) {
        out.push(res);
        docs.set(res, doc);
      }
    }
  }
  return out;
}

/** Validates one document's envelope and spec; returns the resource (defaults applied) or undefined. */
function toResource(
  doc: ParsedDocument,
  schemas: Map<string, KindSchema>,
  kindOf: KindLookup,
  problems: Problem[],
): Resource | undefined {
  const bad = (path: string, message: string) =>
    problems.push(err(doc.file, doc.lineOf(path), path, message));
  const v = doc.value;
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    bad('', 'a document must be a mapping with apiVersion, kind, metadata and spec');
    return undefined;
  }
  const d = v as Record<string, unknown>;
  const before = problems.length;
  if (d.apiVersion !== API_VERSION)
    bad('/apiVersion', `unknown apiVersion ${JSON.stringify(d.apiVersion)}: expected ${API_VERSION}`);
  const schema = typeof d.kind === 'string' ? schemas.get(d.kind) : undefined;
  if (!schema) {
    const known = [...schemas.keys()].sort().join(', ');
    bad('/kind', `unknown kind ${JSON.stringify(d.kind)}: expected one of ${known}`);
  }
  for (const key of Object.keys(d)) if (!TOP_LEVEL.has(key)) bad(`/${key}`, 'unknown top-level field');
  const meta = checkMetadata(d.metadata, bad);
  if (d.spec === undefined || d.spec === null || typeof d.spec !== 'object' || Array.isArray(d.spec)) {
    bad('/spec', 'spec is required and must be a mapping');
  } else if (schema && !schema.validateSpec(d.spec)) {
    for (const e of describeSchemaErrors(schema.validateSpec.errors)) bad(e.path, e.message);
  } else {
    for (const path of nulPaths(d.spec, '/spec'))
      if (!(d.kind === 'File' && path === '/spec/content'))
        bad(path, 'contains a NUL byte, which no command line, unit file or config line on a host can carry');
  }
  if (problems.length > before || !schema || !meta) return undefined;
  const res: Resource = {
    apiVersion: API_VERSION,
    kind: schema.kind,
    metadata: meta,
    spec: d.spec as Record<string, unknown>,
    source: { file: doc.file, line: doc.line },
  };
  for (const p of kindOf(res.kind)?.validate?.(res) ?? []) bad(p.path, p.message);
  return problems.length > before ? undefined : res;
}

function checkMetadata(
  m: unknown,
  bad: (path: string, message: string) => void,
): Resource['metadata'] | undefined {
  if (!m || typeof m !== 'object' || Array.isArray(m)) {
    bad('/metadata', 'metadata is required and must be a mapping with a name');
    return undefined;
  }
  const meta = m as Record<string, unknown>;
  let ok = true;
  if (typeof meta.name !== 'string' || !RESOURCE_NAME.test(meta.name)) {
    bad(
      '/metadata/name',
      'name must be a lowercase DNS name: a-z, 0-9, "-" and ".", starting and ending alphanumeric',
    );
    ok = false;
  }
  for (const key of Object.keys(meta)) {
    if (!['name', 'labels', 'annotations'].includes(key)) {
      bad(`/metadata/${key}`, 'unknown metadata field (allowed: name, labels, annotations)');
      ok = false;
    }
  }
  for (const field of ['labels', 'annotations'] as const) {
    const map = meta[field];
    if (map === undefined) continue;
    if (!map || typeof map !== 'object' || Array.isArray(map)) {
      bad(`/metadata/${field}`, `${field} must be a mapping of strings`);
      ok = false;
      continue;
    }
    for (const [k, val] of Object.entries(map)) {
      if (!QUALIFIED_KEY.test(k)) {
        bad(
          `/metadata/${field}/${pointerSegment(k)}`,
          `${field} keys must be Kubernetes qualified names (optional DNS prefix and "/", then [A-Za-z0-9-_.] up to 63 characters)`,
        );
        ok = false;
        continue;
      }
      const valueOk = typeof val === 'string' && (field === 'annotations' || LABEL_VALUE.test(val));
      if (!valueOk) {
        bad(
          `/metadata/${field}/${k}`,
          field === 'labels'
            ? 'label values must be strings of at most 63 characters [A-Za-z0-9-_.]'
            : 'annotation values must be strings',
        );
        ok = false;
      }
    }
  }
  return ok ? (meta as unknown as Resource['metadata']) : undefined;
}

function checkDuplicates(resources: Resource[], problems: Problem[]): void {
  const seen = new Map<string, Resource>();
  for (const r of resources) {
    const key = `${r.kind}/${r.metadata.name}`;
    const prior = seen.get(key);
    if (prior) {
      problems.push(
        err(
          r.source.file,
          r.source.line,
          '/metadata/name',
          `duplicate ${key}: also defined at ${prior.source.file}:${prior.source.line}`,
        ),
      );
    } else seen.set(key, r);
  }
}

function checkSelections(
  snapshot: Snapshot,
  kindOf: KindLookup,
  problems: Problem[],
  lineOf: (r: Resource, path: string) => number,
): void {
  const names = new Set(snapshot.hosts.map((h) => h.name));
  for (const r of snapshot.resources) {
    if (r.kind === 'Host') continue;
    const sel = r.spec as HostSelection;
    const where = (path: string) => ({ file: r.source.file, line: lineOf(r, path), path });
    if ((sel.hosts === undefined) === (sel.hostSelector === undefined)) {
      problems.push({
        severity: 'error',
        ...where('/spec'),
        message: 'set exactly one of spec.hosts or spec.hostSelector',
      });
      continue;
    }
    (sel.hosts ?? []).forEach((h, i) => {
      if (!names.has(h))
        problems.push({
          severity: 'error',
          ...where(`/spec/hosts/${i}`),
          message: `unknown host ${JSON.stringify(h)}: no Host resource has that name`,
        });
    });
    for (const ref of kindOf(r.kind)?.hostReferences?.(r) ?? []) {
      if (!names.has(ref.host))
        problems.push({
          severity: 'error',
          ...where(ref.path),
          message: `unknown host ${JSON.stringify(ref.host)}: no Host resource has that name`,
        });
    }
    if (sel.hostSelector && selectHosts(sel, snapshot.hosts).length === 0) {
      problems.push({
        severity: 'warning',
        ...where('/spec/hostSelector'),
        message: `${r.kind}/${r.metadata.name}: hostSelector matches no host`,
      });
    }
  }
}

function toHostRef(r: Resource): HostRef {
  const s = r.spec as {
    address: string;
    port: number;
    user: string;
    hostKey: string;
    identityFile?: string;
    privilege?: 'root' | 'sudo';
  };
  return {
    name: r.metadata.name,
    labels: r.metadata.labels ?? {},
    address: s.address,
    port: s.port ?? 22,
    user: s.user ?? 'root',
    hostKey: s.hostKey,
    identityFile: s.identityFile,
    privilege: s.privilege ?? (s.user && s.user !== 'root' ? 'sudo' : 'root'),
  };
}

/** JSON pointers of every string (value or key) under `value` that holds a NUL byte. */
function nulPaths(value: unknown, path: string): string[] {
  if (typeof value === 'string') return value.includes('\0') ? [path] : [];
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const at = `${path}/${pointerSegment(k)}`;
    return k.includes('\0') ? [at] : nulPaths(v, at);
  });
}

function pointerSegment(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

function err(file: string, line: number, path: string, message: string): Problem {
  return { severity: 'error', file, line, path, message };
}
