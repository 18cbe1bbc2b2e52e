import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostLayout, hostScript } from '../apply/host-scripts.js';
import { type PackageStep, parseInstallOutput, storedDeb } from '../apply/package-scripts.js';
import type { PackageChange } from '../core/diff.js';
import { ProtocolError } from '../core/errors.js';
import type { PackageIntent } from '../core/model.js';
import { cachedDeb } from './deb-cache.js';
import type { HostExecutor, RequestOptions } from './host-executor.js';
import type { ResourceOutcome } from './outcome.js';

/** Raw bytes per upload round trip (base64 in the script: about 1.4 MB of text). */
const CHUNK_BYTES = 1024 * 1024;

/**
 * Converges a host's packages (the first step of an apply: files and units may come from them). Each `.deb` is
 * read here and its sha256 checked before any byte leaves, uploaded unless the host stores it already (named by
 * its hash, checked again there), then every change runs in one script under the host lock: `dpkg -i` for a
 * `.deb`, `apt-get install name=version` for the host's own sources, `dpkg -r` to remove (config files stay).
 * One verdict per Package resource: applied, or failed with IntegrityMismatch, FetchFailed, UploadFailed or
 * InstallFailed.
 *
 * A failed step leaves dpkg in a known state (Debian Policy 6.6, "Details of unpack phase of installation or
 * upgrade", and 6.7, "Details of configuration"; dpkg 1.21.22 src/main/unpack.c process_archive and
 * src/main/cleanup.c). A preinst failing on upgrade runs `new-postrm abort-upgrade` (cu_preinstupgrade) and then
 * `old-postinst abort-upgrade` (cu_prermupgrade): the old version stays installed, `ii` (`iU` if that script
 * fails too). A preinst failing on a first install runs `postrm abort-install`: not installed again. A failing
 * postinst leaves the new version `iF` (half-configured; dpkg-query -W still reports its version), with its
 * conffiles already settled; the probe counts only `i` as installed, so the next pass installs it again.
 * Every dpkg run that opened the database for writing ends by writing `status-new` and renaming it over
 * `status` (lib/dpkg/dbmodify.c modstatdb_shutdown → modstatdb_checkpoint → writedb, lib/dpkg/atomic-file.c
 * atomic_file_commit): the re-probe sees a new signature and reads the versions again.
 */
export async function applyPackages(
  conn: HostExecutor,
  changes: PackageChange[],
  req: RequestOptions,
  opts: { packageCache: string },
): Promise<ResourceOutcome[]> {
  const verdicts: ResourceOutcome[] = [];
  const steps: { change: PackageChange; step: PackageStep }[] = [];
  const debs = changes.filter((c) => c.action !== 'remove' && c.intent.deb);
  const need = debs.length ? await missingDebs(conn, debs, req) : new Set<string>();
  for (const c of changes) {
    const fail = (reason: string, message: string) =>
      verdicts.push({ ...c.resource, result: 'failed', reason, message });
    if (c.action === 'remove') steps.push({ change: c, step: { op: 'remove', name: c.name } });
    else if (!c.intent.deb)
      steps.push({ change: c, step: { op: 'apt', name: c.name, version: c.intent.version } });
    else {
      const sha = c.intent.deb.sha256;
      if (need.has(sha)) {
        const bytes = await readDeb(c.intent, opts.packageCache);
        if (!Buffer.isBuffer(bytes)) {
          fail(bytes.reason, bytes.message);
          continue;
        }
        const stored = await upload(conn, sha, bytes, req);
        if (stored !== 'stored') {
          fail('UploadFailed', `${c.source}: ${stored}; nothing was installed`);
          continue;
        }
      }
      steps.push({ change: c, step: { op: 'deb', file: storedDeb(hostLayout.stateRoot, sha) } });
    }
  }
  if (steps.length === 0) return verdicts;
  const out = await conn.run(hostScript({ op: 'install', steps: steps.map((s) => s.step) }), req);
  const results = parseInstallOutput(out.stdout.toString('utf8'), steps.length, conn.host.name);
  steps.forEach(({ change: c }, i) => {
    const r = results[i]!;
    if (r.code === 0) verdicts.push({ ...c.resource, result: 'applied' });
    else
      verdicts.push({
        ...c.resource,
        result: 'failed',
        reason: 'InstallFailed',
        message: `${c.action} ${c.name}${c.to ? ` ${c.to}` : ''} from ${c.source} exited ${r.code}: ${lastLines(r.output)}`,
      });
  });
  return verdicts;
}

/** The sha256s the host does not store yet. */
async function missingDebs(
  conn: HostExecutor,
  debs: PackageChange[],
  req: RequestOptions,
): Promise<Set<string>> {
  const shas = [...new Set(debs.map((c) => c.intent.deb!.sha256))];
  const out = (await conn.run(hostScript({ op: 'debs', shas }), req)).stdout.toString('utf8');
  const need = new Set<string>();
  const lines = out.split('\n').filter(Boolean);
  if (lines.length !== shas.length)
    throw new ProtocolError('deb presence script output is incomplete', { host: conn.host.name });
  for (const line of lines) {
    const m = /^(have|need) ([0-9a-f]{64})$/.exec(line);
    if (!m)
      throw new ProtocolError(`unexpected deb presence line ${JSON.stringify(line.slice(0, 80))}`, {
        host: conn.host.name,
      });
    if (m[1] === 'need') need.add(m[2]!);
  }
  return need;
}

/**
 * The `.deb`'s bytes, or why they cannot be sent: a file of the desired-state directory, or a URL's copy in the
 * package cache (fetched once); either way its sha256 is checked here, before any byte leaves.
 */
async function readDeb(
  p: PackageIntent,
  cache: string,
): Promise<Buffer | { reason: string; message: string }> {
  const deb = p.deb!;
  const where = deb.path ?? deb.url ?? 'deb';
  let bytes: Buffer;
  try {
    const file = deb.file ?? (deb.url ? await cachedDeb(deb.url, deb.sha256, cache) : undefined);
    if (!file) return { reason: 'FetchFailed', message: `${where}: no source to read it from` };
    bytes = await readFile(file);
  } catch (e) {
    const message = (e as Error).message;
    const reason = message.includes('sha256 is') ? 'IntegrityMismatch' : 'FetchFailed';
    return { reason, message: `${where}: ${message}; nothing was uploaded` };
  }
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== deb.sha256)
    return {
      reason: 'IntegrityMismatch',
      message: `${where}: sha256 is ${sha}, the Package declares ${deb.sha256}; nothing was uploaded`,
    };
  return bytes;
}

/** Uploads in chunks; `stored`, or what went wrong (the host's hash differs: a torn or altered upload). */
async function upload(
  conn: HostExecutor,
  sha256: string,
  bytes: Buffer,
  req: RequestOptions,
): Promise<string> {
  const nonce = randomBytes(6).toString('hex');
  for (let at = 0; at === 0 || at < bytes.length; at += CHUNK_BYTES) {
    const chunk = bytes.subarray(at, at + CHUNK_BYTES);
    const last = at + CHUNK_BYTES >= bytes.length;
    const r = await conn.run(hostScript({ op: 'upload', sha256, nonce, chunk, first: at === 0, last }), req);
    const said = r.stdout.toString('utf8').trim();
    if (r.code !== 0)
      return `upload failed on the host (exit ${r.code}): ${r.stderr.toString('utf8').trim().slice(0, 300)}`;
    if (last)
      return said.startsWith('mismatch') ? `the host computed another sha256 (${said.slice(9)})` : said;
  }
  return 'stored';
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-8).join(' | ').slice(-1000);
}
