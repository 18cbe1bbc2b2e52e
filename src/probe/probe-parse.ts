import { ProtocolError } from '../core/errors.js';
import type { ObservedFile, ObservedHost, ObservedUnit } from '../core/model.js';
import {
  INLINE_MAX_BYTES,
  type KnownFile,
  type KnownPackages,
  type KnownProgram,
  MAX_HASH_BYTES,
  PROBE_FORMAT_VERSION,
  type ProbeRequest,
} from './probe-script.js';

/** A parsed probe: what the host looks like, and the cache entries for the next pass. */
export interface ProbeResult {
  observed: ObservedHost;
  /** Signature and hash of every regular file seen, to pass as `known` next time. */
  known: Record<string, KnownFile>;
  /** The package versions read and the signature they were read at, to pass as `knownPackages` next time. */
  knownPackages?: KnownPackages;
  /** The program versions and their files' signatures, to pass as `knownPrograms` next time. */
  knownPrograms?: Record<string, KnownProgram>;
  /** Every path's stat signature (`-` when missing): what a host watch reports is compared with it. */
  signatures: Record<string, string>;
}

const STAT =
  /^stat (\d+) (?:-|([0-9a-f]{1,8}) (\d+) (\d+) (\d+) (\S+) (\S+) (\d+:\d+:\d+:\d+\.\d{9}:\d+\.\d{9}))$/;
const SHA = /^sha256 (\d+) ([0-9a-f]{64}|-|big|size)$/;
const UNIT_KEYS = ['Id', 'LoadState', 'ActiveState', 'UnitFileState'];

interface Stat {
  rawMode: number;
  size: number;
  owner: string;
  group: string;
  signature: string;
}

/** Walks the output line by line; every complaint names the host and the 1-based line. */
class Lines {
  private readonly lines: string[];
  at = 0;

  constructor(
    private readonly host: string,
    stdout: string,
  ) {
    this.lines = stdout.split('\n');
    if (this.lines[this.lines.length - 1] !== '') {
      this.fail('output does not end with a newline (truncated)', this.lines.length - 1);
    }
  }

  get done(): boolean {
    return this.at === this.lines.length - 1;
  }

  next(): string {
    if (this.done) this.fail('output is truncated', this.at);
    return this.lines[this.at++] as string;
  }

  expect(re: RegExp, what: string): RegExpExecArray {
    return re.exec(this.next()) ?? this.fail(`expected ${what}`);
  }

  /** Fails on the line last read (or the given one). */
  fail(what: string, n = this.at - 1): never {
    const line = this.lines[n];
    const shown =
      line === undefined || n === this.lines.length - 1
        ? 'end of output'
        : JSON.stringify(line.slice(0, 120));
    throw new ProtocolError(`host ${this.host}: probe output line ${n + 1}: ${what} (${shown})`, {
      host: this.host,
    });
  }
}

/**
 * Parses the output of `buildProbeScript(req)` (pure). Accepts exactly that format: a known header,
 * every path reported once, a hash (or an unchanged signature in `req.known`) for every regular file,
 * one `systemctl show` block per unit, and a trailer with the request's counts. Anything else
 * (truncation, an unknown record, a wrong count, a duplicate) throws ProtocolError naming the host and
 * the line: the caller never gets a silently partial picture.
 */
export function parseProbeOutput(host: string, req: ProbeRequest, stdout: string): ProbeResult {
  const r = new Lines(host, stdout);
  r.expect(
    new RegExp(`^hostop-probe ${PROBE_FORMAT_VERSION}$`),
    `header "hostop-probe ${PROBE_FORMAT_VERSION}"`,
  );
  const hostname = r.expect(/^hostname (.*)$/, 'hostname')[1] as string;
  const os = unquoteOsRelease(r.expect(/^os (.*)$/, 'os')[1] as string);
  const systemd = r.expect(/^systemd ([01])$/, 'systemd 0|1')[1] === '1';
  const { stats, hashes, lineOf } = parsePathRecords(r, req.paths.length);
  const units = parseUnits(r, req.units);
  const contents = parseInline(r, req.inline ?? []);
  const packages = parsePackages(r, req);
  const programs = parsePrograms(r, req);
  const end = r.expect(/^end (\d+) (\d+)$/, 'a path record or the trailer "end NPATHS NUNITS"');
  if (Number(end[1]) !== req.paths.length || Number(end[2]) !== req.units.length)
    r.fail('trailer counts differ from the request');
  if (!r.done) r.fail('unexpected output after the trailer', r.at);
  if (stats.size !== req.paths.length) r.fail(`${req.paths.length - stats.size} path(s) not reported`);

  const files: Record<string, ObservedFile> = {};
  const known: Record<string, KnownFile> = {};
  const signatures: Record<string, string> = {};
  req.paths.forEach((path, i) => {
    const stat = stats.get(i) as Stat | 'missing';
    const hash = hashes.get(i);
    const fail = (what: string) => r.fail(what, lineOf.get(i));
    signatures[path] = stat === 'missing' ? '-' : stat.signature;
    if (stat === 'missing') {
      if (hash !== undefined) fail(`sha256 reported for missing path #${i}`);
      files[path] = { path, type: 'missing' };
      return;
    }
    const file = toObservedFile(path, stat);
    if (file.type === 'file') {
      const prev = req.known?.[path];
      const sha = hash ?? (prev?.signature === stat.signature ? prev.sha256 : undefined);
      if (sha === undefined) fail(`no sha256 for changed regular file #${i}`);
      if (sha === 'big') {
        if (stat.size <= MAX_HASH_BYTES) fail(`file #${i} reported too large to hash at ${stat.size} bytes`);
        // Over MAX_HASH_BYTES: not hashed, never cached; its "hash" equals no content's.
        file.sha256 = `too-large:${stat.size}`;
        files[path] = file;
        return;
      }
      if (sha === 'size') {
        if (req.sizes?.[path] === undefined || req.sizes[path] === stat.size)
          fail(`file #${i} reported of another size than asked at ${stat.size} bytes`);
        // Not the wanted size: it differs from the wanted content without being read; never cached.
        file.sha256 = `other-size:${stat.size}`;
        files[path] = file;
        return;
      }
      if (sha === '-')
        fail(`file #${i} could not be hashed (it changed or vanished during the probe); probe again`);
      file.sha256 = sha;
      known[path] = { signature: stat.signature, sha256: sha as string };
    } else if (hash !== undefined) fail(`sha256 reported for non-regular path #${i}`);
    files[path] = file;
  });
  const observed: ObservedHost = { host, facts: { hostname, os, systemd }, files, units };
  if (req.inline?.length) observed.contents = contents;
  if (packages?.unreadable) observed.packagesUnreadable = packages.unreadable;
  else if (packages?.known) observed.packages = packages.known.versions;
  if (programs) {
    observed.programs = Object.fromEntries(Object.entries(programs).map(([p, k]) => [p, k.version]));
  }
  return {
    observed,
    known,
    signatures,
    ...(packages?.known && { knownPackages: packages.known }),
    ...(programs && { knownPrograms: programs }),
  };
}

/** A version as programs print it (`2.1.83 (Claude Code)`, `otelcol-contrib version 0.123.0`). */
const VERSION_IN_TEXT = /\d+\.\d+(?:\.\d+)?(?:[-+~][0-9A-Za-z.]+)?/;

/** The program records (see probe-script's programLines); undefined when none were asked. */
function parsePrograms(r: Lines, req: ProbeRequest): Record<string, KnownProgram> | undefined {
  const programs = req.programs ?? [];
  if (programs.length === 0) return undefined;
  const out: Record<string, KnownProgram> = {};
  programs.forEach((program, j) => {
    const m =
      /^program (\d+) (?:(-)|(same)|(\S+) ([A-Za-z0-9+/]*={0,2}))$/.exec(r.next()) ??
      r.fail(`expected "program ${j} …"`);
    if (Number(m[1]) !== j) r.fail(`program record ${m[1]} where ${j} was due`);
    if (m[2]) return; // missing: no entry, no cache
    if (m[3]) {
      out[program] = req.knownPrograms?.[program] ?? r.fail('program "same" without a cache entry');
      return;
    }
    const said = Buffer.from(m[5] as string, 'base64').toString('utf8');
    out[program] = { signature: m[4] as string, version: VERSION_IN_TEXT.exec(said)?.[0] ?? null };
  });
  return out;
}

const INSTALLED = new Set(['i', 't', 'W']);
const PACKAGE_LINE = /^([a-z0-9][a-z0-9+.-]+)\t([a-zA-Z]{2}[ R]?)\t([A-Za-z0-9.+~:-]{0,100})$/;

/** The package records (see probe-script's packageLines); undefined when none were asked. */
function parsePackages(
  r: Lines,
  req: ProbeRequest,
): { known?: KnownPackages; unreadable?: string } | undefined {
  const names = req.packages ?? [];
  if (names.length === 0) return undefined;
  const first = r.next();
  if (first === 'packages-unavailable') return { unreadable: 'dpkg-query is not installed' };
  if (first === 'packages-same') {
    if (req.knownPackages?.names !== names.join(' ')) r.fail('packages-same without a matching cache');
    return { known: req.knownPackages };
  }
  const begin = /^packages-begin (\S+)$/.exec(first) ?? r.fail('expected "packages-begin SIG"');
  const versions: Record<string, string | null> = Object.fromEntries(names.map((n) => [n, null]));
  for (let line = r.next(); line !== 'packages-end'; line = r.next()) {
    const m = PACKAGE_LINE.exec(line) ?? r.fail('not a dpkg-query record');
    const [, name, status, version] = m as unknown as string[];
    if (!names.includes(name as string)) r.fail('dpkg-query reported a package that was not asked for');
    // Status-Abbrev: desired, current state, error flag. Installed: "i", and "t"/"W" (installed, triggers
    // pending or awaited: dpkg-query(1) db:Status-Abbrev; lib/dpkg/pkg-namevalue.c statusinfos). Unpacked,
    // half-configured, half-installed or config-files only are not installed at a version.
    versions[name as string] = INSTALLED.has((status as string)[1]!) && version ? (version as string) : null;
  }
  // `-…`: dpkg's status file could not be stat'ed, so nothing can be cached against it.
  const signature = begin[1]!.startsWith('-') ? `unstable-${Date.now()}` : (begin[1] as string);
  return { known: { signature, names: names.join(' '), versions } };
}

/** `inline J BASE64|-`, one per requested inline path in order; contents of the regular files among them. */
function parseInline(r: Lines, paths: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  paths.forEach((path, j) => {
    const m = r.expect(/^inline (\d+) (-|[A-Za-z0-9+/]*={0,2})$/, `"inline ${j} …"`);
    if (Number(m[1]) !== j) r.fail(`inline record ${m[1]} where ${j} was due`);
    if (m[2] === '-') return;
    const bytes = Buffer.from(m[2] as string, 'base64');
    if (bytes.length > INLINE_MAX_BYTES)
      r.fail(
        `${JSON.stringify(path)} is larger than ${INLINE_MAX_BYTES} bytes, more than hostop reads of it`,
      );
    out[path] = bytes.toString('utf8');
  });
  return out;
}

function parsePathRecords(r: Lines, count: number) {
  const stats = new Map<number, Stat | 'missing'>();
  const hashes = new Map<number, string>();
  /** Index of the line that reported each path: later consistency errors point at it. */
  const lineOf = new Map<number, number>();
  const index = (s: string, seen: Map<number, unknown>): number => {
    const i = Number(s);
    if (i >= count) r.fail('path index out of range');
    if (seen.has(i)) r.fail('path reported twice');
    lineOf.set(i, r.at - 1);
    return i;
  };
  for (;;) {
    const line = r.next();
    let m = /^missing (\d+)$/.exec(line);
    if (m) {
      stats.set(index(m[1] as string, stats), 'missing');
      continue;
    }
    m = STAT.exec(line);
    if (m) {
      // `stat I -`: the path vanished between the existence test and stat.
      stats.set(index(m[1] as string, stats), m[2] === undefined ? 'missing' : toStat(m));
      continue;
    }
    m = SHA.exec(line);
    if (m) {
      hashes.set(index(m[1] as string, hashes), m[2] as string);
      continue;
    }
    r.at--;
    return { stats, hashes, lineOf };
  }
}

function toStat(m: RegExpExecArray): Stat {
  const [, , hex, size, uid, gid, owner, group, signature] = m as unknown as string[];
  return {
    rawMode: Number.parseInt(hex as string, 16),
    size: Number(size),
    // stat prints UNKNOWN for an id without a name; the number is the truthful answer then.
    owner: owner === 'UNKNOWN' ? (uid as string) : (owner as string),
    group: group === 'UNKNOWN' ? (gid as string) : (group as string),
    signature: signature as string,
  };
}

function toObservedFile(path: string, s: Stat): ObservedFile {
  const fmt = s.rawMode & 0o170000;
  const type = fmt === 0o100000 ? 'file' : fmt === 0o040000 ? 'dir' : fmt === 0o120000 ? 'symlink' : 'other';
  const mode = (s.rawMode & 0o7777).toString(8).padStart(4, '0');
  return { path, type, size: s.size, mode, owner: s.owner, group: s.group };
}

/** The `systemctl show` blocks, one per requested unit in request order, separated by blank lines. */
function parseUnits(r: Lines, units: string[]): Record<string, ObservedUnit> {
  const out: Record<string, ObservedUnit> = {};
  if (units.length === 0) return out;
  const first = r.next();
  if (first === 'units-unavailable') {
    // No systemd as PID 1: nothing can be said about units (facts.systemd is false).
    for (const u of units) out[u] = { unit: u, active: 'unknown', enabled: '', load: 'unknown' };
    return out;
  }
  if (first !== 'units-begin') r.fail('expected a path record, "units-begin" or "units-unavailable"');
  const blocks: Map<string, string>[] = [];
  let block: Map<string, string> | undefined;
  let line = r.next();
  for (; !line.startsWith('units-end '); line = r.next()) {
    if (line === '') {
      block = undefined;
      continue;
    }
    const eq = line.indexOf('=');
    const key = line.slice(0, Math.max(eq, 0));
    if (!UNIT_KEYS.includes(key)) r.fail('unexpected line in systemctl output');
    if (!block) {
      block = new Map();
      blocks.push(block);
    }
    if (block.has(key)) r.fail(`${key} twice in one unit block`);
    block.set(key, line.slice(eq + 1));
  }
  if (line !== 'units-end 0') r.fail('systemctl show failed');
  if (blocks.length !== units.length)
    r.fail(`systemctl reported ${blocks.length} unit(s), expected ${units.length}`);
  units.forEach((unit, i) => {
    const b = blocks[i] as Map<string, string>;
    const missing = UNIT_KEYS.filter((k) => !b.has(k));
    if (missing.length > 0) r.fail(`unit ${unit}: systemctl did not report ${missing.join(', ')}`);
    out[unit] = {
      unit,
      active: b.get('ActiveState') as string,
      enabled: b.get('UnitFileState') as string,
      load: b.get('LoadState') as string,
    };
  });
  return out;
}

/** os-release values are shell-style: optionally double- or single-quoted, with `\` escapes in double quotes. */
function unquoteOsRelease(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"'))
    return v.slice(1, -1).replace(/\\([\\$"`])/g, '$1');
  if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) return v.slice(1, -1);
  return v;
}
