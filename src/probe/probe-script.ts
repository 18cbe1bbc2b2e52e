import { DesiredStateError } from '../core/errors.js';
import { quoteArg, quoteArgv } from '../ssh/quote.js';

/** The output format this builder asks for and probe-parse accepts; bump both together. */
export const PROBE_FORMAT_VERSION = 1;

/** What the previous pass saw of one regular file: its stat signature and the hash it had then. */
export interface KnownFile {
  /** `dev:inode:size:mtime.ns:ctime.ns`; ctime moves on every write, so an equal signature means equal content. */
  signature: string;
  sha256: string;
}

/** What one probe asks of one host. */
export interface ProbeRequest {
  /** Absolute paths; records refer to them by index, so no path ever has to be parsed back. */
  paths: string[];
  units: string[];
  /** The caller's cache from the last pass: files whose signature is unchanged are not hashed. */
  known?: Record<string, KnownFile>;
  /** The size a file must have to be in sync (text files): one of another size is drift without hashing. */
  sizes?: Record<string, number>;
  /** Small files (hostop's own state) whose content the probe returns too, saving a round trip. */
  inline?: string[];
  /** Debian packages whose installed version is reported (`dpkg-query`). */
  packages?: string[];
  /** The caller's cache: when dpkg's database still has this signature, the versions are not read again. */
  knownPackages?: KnownPackages;
  /** Absolute paths of programs whose `--version` output is reported. */
  programs?: string[];
  /** The caller's cache: a program whose file (followed through symlinks) has this signature is not run again. */
  knownPrograms?: Record<string, KnownProgram>;
}

/** What `PROGRAM --version` said when the program's file had this signature. */
export interface KnownProgram {
  signature: string;
  version: string | null;
}

/** Installed versions read at a signature of dpkg's status database (it changes on every install or removal). */
export interface KnownPackages {
  signature: string;
  /** The requested packages, in request order, joined by spaces: a cache for another set does not apply. */
  names: string;
  versions: Record<string, string | null>;
}

/** dpkg's database: every install, upgrade or removal rewrites it (dpkg(1), FILES). */
export const DPKG_STATUS = '/var/lib/dpkg/status';
export const DPKG_UPDATES = '/var/lib/dpkg/updates';
/** Package names per Debian policy 5.6.1 (lower case, digits, + - .), so each is a safe dpkg-query word. */
export const DEBIAN_PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;

/** Regular files larger than this are not hashed (none of hostop's files comes near it). */
export const MAX_HASH_BYTES = 16 * 1024 * 1024;

/** The most an inline file may hold; a larger one is a protocol error, not silently cut. */
export const INLINE_MAX_BYTES = 1024 * 1024;

/**
 * Seconds one sha256sum run may take (files up to MAX_HASH_BYTES read in well under one); it runs at most twice
 * per probe (all files, then each alone), within the probe's own deadline.
 */
export const HASH_TIMEOUT_S = 10;

/** `stat` fields per path: raw mode (hex), size, uid, gid, owner, group, signature (last: compared whole). */
/** A file's stat signature (`dev:inode:size:mtime.ns:ctime.ns`): equal signatures mean equal content. */
export const SIGNATURE = '%d:%i:%s:%.9Y:%.9Z';
const STAT_FORMAT = `%f %s %u %g %U %G ${SIGNATURE}`;
const SYSTEMD_UNIT = /^[A-Za-z0-9:_.\\@-]+$/;

/**
 * Builds the one POSIX sh script that probes a host (pure). Processes spawned on the host: one `stat`
 * for every existing path, one `sha256sum` only if some regular file's signature differs from `known`
 * (none on a warm pass without drift), one `systemctl show` for all units; existence tests, facts and
 * record formatting use builtins. Paths and units are sh words made by quoteArg, never spliced text.
 * Throws DesiredStateError for a relative path or a string that is not a systemd unit name.
 *
 * Output, one record per line (see probe-parse.ts): `hostop-probe 1`, `hostname …`, `os …`,
 * `systemd 0|1`, per path `missing I` or `stat I …`, `sha256 I HEX|-` per hashed file, the raw
 * `systemctl show` blocks between `units-begin` and `units-end RC` (or `units-unavailable` without
 * systemd), `inline J BASE64|-` per inline path (`-`: not a regular file), and `end NPATHS NUNITS`.
 */
export function buildProbeScript(req: ProbeRequest): string {
  for (const p of [...req.paths, ...(req.inline ?? [])]) {
    if (!p.startsWith('/')) throw new DesiredStateError(`probe path must be absolute: ${JSON.stringify(p)}`);
  }
  for (const p of req.programs ?? []) {
    if (!p.startsWith('/'))
      throw new DesiredStateError(`program path must be absolute: ${JSON.stringify(p)}`);
  }
  for (const p of req.packages ?? []) {
    if (!DEBIAN_PACKAGE.test(p))
      throw new DesiredStateError(`not a Debian package name: ${JSON.stringify(p)}`);
  }
  for (const u of req.units) {
    if (!SYSTEMD_UNIT.test(u) || u.startsWith('-'))
      throw new DesiredStateError(`not a systemd unit name: ${JSON.stringify(u)}`);
  }
  const lines = [
    'LC_ALL=C; export LC_ALL; set -f',
    `nl='\n'`,
    `echo 'hostop-probe ${PROBE_FORMAT_VERSION}'`,
    ...factLines(),
    ...pathLines(req),
    ...unitLines(req.units),
    ...inlineLines(req.inline ?? []),
    ...packageLines(req),
    ...programLines(req),
    `echo 'end ${req.paths.length} ${req.units.length}'`,
  ];
  return `${lines.join('\n')}\n`;
}

function factLines(): string[] {
  return [
    'h=; read -r h </proc/sys/kernel/hostname; printf \'hostname %s\\n\' "$h"',
    'o=; for f in /etc/os-release /usr/lib/os-release; do [ -r "$f" ] || continue',
    '  while IFS= read -r l || [ -n "$l" ]; do case $l in PRETTY_NAME=*) o=${l#PRETTY_NAME=};; esac; done <"$f"; break',
    'done; printf \'os %s\\n\' "$o"',
    // sd_booted(): systemd is PID 1 exactly when this directory exists.
    'if [ -d /run/systemd/system ]; then sd=1; else sd=0; fi; echo "systemd $sd"',
  ];
}

function pathLines(req: ProbeRequest): string[] {
  if (req.paths.length === 0) return [];
  const out: string[] = [];
  req.paths.forEach((p, i) => {
    const known = req.known?.[p];
    const size = req.sizes?.[p];
    out.push(
      `p${i}=${quoteArg(p)}${known ? ` k${i}=${quoteArg(known.signature)}` : ''}${size === undefined ? '' : ` z${i}=${size}`}`,
    );
  });
  out.push('set --; e=');
  req.paths.forEach((_, i) => {
    // `-h` too: a dangling symlink fails `-e` but exists.
    out.push(
      `if [ -e "$p${i}" ] || [ -h "$p${i}" ]; then set -- "$@" "$p${i}"; e="$e ${i}"; else echo 'missing ${i}'; fi`,
    );
  });
  out.push(
    `F=${quoteArg(STAT_FORMAT)}`,
    // One stat for all paths. If one vanished since the test, stat skips it and the lines would no longer
    // line up with the indexes: then stat each path alone, printing `-` for the ones that are gone.
    ...oneLinePerArg('stat -c "$F" --'),
    // printf, not echo: dash's echo interprets backslashes.
    'h=; for i in $e; do l=$1; shift; printf \'stat %s %s\\n\' "$i" "$l"',
    // Regular files (raw mode 8xxx) whose signature differs from the known one get hashed.
    // A regular file larger than the bound is not hashed (a sparse 200 GB file would run sha256sum into the
    // probe's deadline on every pass): it is reported as too large, which no desired content can equal.
    '  case $l in 8???\\ *) r=${l#* }; if [ "${r%% *}" -gt ' +
      String(MAX_HASH_BYTES) +
      ' ]; then printf \'sha256 %s big\\n\' "$i"; else eval "k=\\${k$i-} z=\\${z$i-}"; ' +
      // A file whose size is not the wanted one differs: no need to read it (a text file; see ProbeRequest.sizes).
      'if [ -n "$z" ] && [ "${r%% *}" != "$z" ]; then printf \'sha256 %s size\\n\' "$i"; ' +
      'elif [ "${l##* }" != "$k" ]; then h="$h $i"; fi; fi;; esac',
    'done',
    'if [ -n "$h" ]; then set --; for i in $h; do eval "set -- \\"\\$@\\" \\"\\$p$i\\""; done',
    // Bounded in time too: a file that grows between its stat and its hash (a sparse 200 GB file swapped in)
    // would otherwise keep sha256sum reading long after the probe gave up on it (seen: 11 minutes of a core).
    ...oneLinePerArg(`timeout -k 1 ${HASH_TIMEOUT_S} sha256sum --`).map((l) => `  ${l}`),
    // sha256sum prefixes a line with `\\` when it escapes the name; the hash is the first field.
    '  for i in $h; do l=${1#\\\\}; shift; printf \'sha256 %s %s\\n\' "$i" "${l%% *}"; done',
    'fi',
  );
  return out;
}

/** Runs `cmd "$@"` once for all args, falling back to one run per arg; leaves one line per arg in "$@". */
function oneLinePerArg(cmd: string): string[] {
  return [
    `if [ $# -gt 0 ] && r=$(${cmd} "$@" 2>/dev/null); then :; else r=; for a do r="$r$(${cmd} "$a" 2>/dev/null || echo -)$nl"; done; fi`,
    "IFS=$nl; set -- $r; IFS=' '",
  ];
}

function inlineLines(paths: string[]): string[] {
  return paths.map((p, j) => {
    const q = quoteArg(p);
    return (
      `if [ -f ${q} ] && [ ! -h ${q} ]; then printf 'inline ${j} '; ` +
      `head -c ${INLINE_MAX_BYTES + 1} -- ${q} | base64 | tr -d '\\n'; echo; else echo 'inline ${j} -'; fi`
    );
  });
}

/**
 * `packages-same` when dpkg's status database has the known signature (no process but `stat`), else
 * `packages-begin SIG`, one `Package<TAB>Status-Abbrev<TAB>Version` line per package dpkg knows, `packages-end`;
 * `packages-unavailable` on a host without dpkg-query. Not-installed packages are simply absent or not installed.
 */
function packageLines(req: ProbeRequest): string[] {
  const names = req.packages ?? [];
  if (names.length === 0) return [];
  const known = req.knownPackages?.names === names.join(' ') ? req.knownPackages.signature : '';
  const query = quoteArgv([
    'dpkg-query',
    '-W',
    '-f=${Package}\t${db:Status-Abbrev}\t${Version}\n',
    '--',
    ...names,
  ]);
  return [
    'if ! command -v dpkg-query >/dev/null 2>&1; then echo packages-unavailable',
    // dpkg-query reads the status file and the journal in updates/ (a run killed before its final rename
    // leaves its changes there: lib/dpkg/dbmodify.c cleanupdates): both are the signature.
    `else s=$(stat -c '${SIGNATURE}' -- ${quoteArg(DPKG_STATUS)} 2>/dev/null) || s=-; ` +
      `u=$(stat -c '${SIGNATURE}' -- ${quoteArg(DPKG_UPDATES)} 2>/dev/null) || u=-; s="$s+$u"`,
    `  if [ "$s" = ${quoteArg(known || 'none')} ]; then echo packages-same`,
    `  else printf 'packages-begin %s\n' "$s"; ${query} 2>/dev/null; echo packages-end; fi`,
    'fi',
  ];
}

/**
 * Per program J: `program J -` when it does not exist, `program J same` when its file (stat -L: an upgrade
 * replaces the file or the symlink's target) has the known signature, else `program J SIG B64` with the first
 * 200 bytes of `PROGRAM --version` (bounded by `timeout`, stdin closed).
 */
function programLines(req: ProbeRequest): string[] {
  return (req.programs ?? []).map((program, j) => {
    const q = quoteArg(program);
    const known = quoteArg(req.knownPrograms?.[program]?.signature ?? 'none');
    return (
      `s=$(stat -L -c '${SIGNATURE}' -- ${q} 2>/dev/null) || s=-; ` +
      `if [ "$s" = - ]; then echo 'program ${j} -'; elif [ "$s" = ${known} ]; then echo 'program ${j} same'; ` +
      `else printf 'program ${j} %s %s\\n' "$s" "$(timeout -k 1 10 ${q} --version </dev/null 2>/dev/null | head -c 200 | base64 | tr -d '\\n')"; fi`
    );
  });
}

function unitLines(units: string[]): string[] {
  if (units.length === 0) return [];
  const show = quoteArgv([
    'systemctl',
    'show',
    '--all',
    '-p',
    'Id,LoadState,ActiveState,UnitFileState',
    '--',
    ...units,
  ]);
  return [
    'if [ $sd = 1 ]; then echo units-begin',
    `  ${show}`,
    '  echo "units-end $?"',
    'else echo units-unavailable; fi',
  ];
}
