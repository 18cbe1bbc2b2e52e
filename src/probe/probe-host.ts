import { hostScript } from '../apply/host-scripts.js';
import { ProtocolError } from '../core/errors.js';
import type { ObservedHost } from '../core/model.js';
import type { HostExecutor, RequestOptions } from '../engine/host-executor.js';
import { parseFetchOutput } from './fetch-script.js';
import { parseProbeOutput } from './probe-parse.js';
import type { KnownFile, KnownPackages, KnownProgram } from './probe-script.js';

/**
 * One host's memory between passes: path -> signature and hash of the regular file seen there, and the package
 * versions read at a signature of dpkg's database. Start with `new Map()`.
 */
export interface ProbeCache extends Map<string, KnownFile> {
  packages?: KnownPackages;
  programs?: Record<string, KnownProgram>;
  /** Every path of the last probe: its stat signature, `-` when missing (a host watch's reports are compared with it). */
  signatures?: Record<string, string>;
}

/** What to look at on one host. */
export interface ProbeTargets {
  paths: string[];
  units: string[];
  /** Small files whose content comes back in `observed.contents` (hostop's inventory on a cold pass). */
  inline?: string[];
  /** Debian packages whose installed versions come back in `observed.packages`. */
  packages?: string[];
  /** Programs whose `--version` comes back in `observed.programs`. */
  programs?: string[];
  /** Text files' wanted sizes: one of another size is reported changed without being hashed. */
  sizes?: Record<string, number>;
}

/** Default bound on one fetched file: configs are small; a larger file is not shown as a diff. */
const DEFAULT_FETCH_MAX_BYTES = 1024 * 1024;

/**
 * Observes one host in one round trip on its connection's shell channel: every path (type, size, mode,
 * owner, group, sha256 of regular files; symlinks are not followed), every unit (active, enabled, load),
 * facts, and the installed versions of `packages` (read again only when dpkg's database changed). Files whose stat signature is unchanged since the last pass reuse the hash in `cache`
 * instead of being read again. `cache` is replaced only after a successful parse. Rejects with the
 * transport's errors (TransportError / TimeoutError) or ProtocolError when the output is not what was asked.
 */
export async function probeHost(
  conn: HostExecutor,
  targets: ProbeTargets,
  cache: ProbeCache,
  opts: RequestOptions,
): Promise<ObservedHost> {
  const host = conn.host.name;
  const req = {
    paths: [...new Set(targets.paths)],
    units: [...new Set(targets.units)],
    known: Object.fromEntries(cache),
    sizes: targets.sizes,
    inline: targets.inline,
    packages: [...new Set(targets.packages ?? [])].sort(),
    knownPackages: cache.packages,
    programs: [...new Set(targets.programs ?? [])].sort(),
    knownPrograms: cache.programs,
  };
  const res = await conn.run(hostScript({ op: 'probe', probe: req }), opts);
  if (res.code !== 0) throw scriptFailed(host, 'probe', res.code, res.stderr);
  const parsed = parseProbeOutput(host, req, res.stdout.toString('utf8'));
  cache.clear();
  for (const [path, known] of Object.entries(parsed.known)) cache.set(path, known);
  if (parsed.knownPackages) cache.packages = parsed.knownPackages;
  if (parsed.knownPrograms) cache.programs = parsed.knownPrograms;
  cache.signatures = parsed.signatures;
  return parsed.observed;
}

/**
 * Fetches the content of regular files in one round trip, for a diff or a structured merge, as UTF-8 text
 * by path. Paths that are missing, not regular files, unreadable or larger than `maxBytes` (default
 * 1 MiB; at most maxBytes + 1 bytes of them are read) are absent from the result. Rejects like probeHost.
 */
export async function fetchFiles(
  conn: HostExecutor,
  paths: string[],
  opts: RequestOptions & { maxBytes?: number },
): Promise<Record<string, string>> {
  const unique = [...new Set(paths)];
  const maxBytes = opts.maxBytes ?? DEFAULT_FETCH_MAX_BYTES;
  const res = await conn.run(hostScript({ op: 'fetch', paths: unique, maxBytes }), opts);
  if (res.code !== 0) throw scriptFailed(conn.host.name, 'fetch', res.code, res.stderr);
  const out: Record<string, string> = {};
  for (const f of Object.values(
    parseFetchOutput(conn.host.name, unique, maxBytes, res.stdout.toString('latin1')),
  )) {
    if (f.kind === 'content') out[f.path] = f.content.toString('utf8');
  }
  return out;
}

function scriptFailed(host: string, what: string, code: number, stderr: Buffer): ProtocolError {
  const said = stderr.toString('utf8').trim().slice(-500);
  return new ProtocolError(
    `host ${host}: ${what} script exited with status ${code}${said ? `: ${said}` : ''}`,
    { host },
  );
}
