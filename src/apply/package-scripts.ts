import { ProtocolError } from '../core/errors.js';
import { quoteArg, quoteArgv } from '../ssh/quote.js';
import { type FenceStamp, assertNotLocked, changeScriptHead, pipeFromHeredoc } from './apply-scripts.js';

/**
 * Pure builders of the scripts that put packages on a host, and strict parsers of what they print. A `.deb`
 * travels in chunks (base64 in a quoted heredoc, like every file) into `<stateRoot>/packages/`, named by its
 * sha256 once the host has checked the hash: a stored `.deb` is never uploaded again, a torn upload is only a
 * `.part` file that the next upload replaces. Installing runs under the host lock, one package manager call each.
 */

/** Where a verified `.deb` is kept on the host: its name is its hash. */
export const storedDeb = (stateRoot: string, sha256: string) => `${stateRoot}/packages/${sha256}.deb`;

/** Prints `have SHA` or `need SHA` for each: which `.deb`s the host stores already. */
export function debPresenceScript(shas: string[], stateRoot: string): string {
  return shas
    .map((sha) => {
      const path = quoteArg(storedDeb(stateRoot, sha));
      return `if [ -f ${path} ]; then echo have ${sha}; else echo need ${sha}; fi`;
    })
    .join('\n');
}

/**
 * One chunk of an upload into `<sha>.<nonce>.part` (the nonce keeps two uploaders apart); the first chunk
 * creates the file (never through a symlink: set -C), the last checks the whole file's sha256 and renames it to
 * its stored name, or removes it. Prints `chunk`, `stored` or `mismatch <sha256 found>`.
 */
export function debChunkScript(
  stateRoot: string,
  sha256: string,
  nonce: string,
  chunk: Buffer,
  at: { first: boolean; last: boolean },
): string {
  const dir = quoteArg(`${stateRoot}/packages`);
  const part = quoteArg(`${stateRoot}/packages/${sha256}.${nonce}.part`);
  const lines = ['umask 077'];
  if (at.first) lines.push(`mkdir -p -- ${dir} && rm -f -- ${part} && (set -C; : > ${part}) || exit 3`);
  lines.push(pipeFromHeredoc(`cat >> ${part} || exit 3`, chunk).trimEnd());
  if (at.last)
    lines.push(
      `s=$(sha256sum < ${part}) || exit 3; s=\${s%% *}`,
      `if [ "$s" = ${quoteArg(sha256)} ]; then mv -f -- ${part} ${quoteArg(storedDeb(stateRoot, sha256))} && echo stored; ` +
        `else rm -f -- ${part}; echo "mismatch $s"; fi`,
    );
  else lines.push('echo chunk');
  return lines.join('\n');
}

/** One package manager call. dpkg's own options keep a changed conffile (hostop's config) on every step. */
export type PackageStep =
  | { op: 'deb'; file: string }
  | { op: 'apt'; name: string; version?: string }
  | { op: 'remove'; name: string };

/**
 * `--force-confdef --force-confold`: a conffile changed on the host (one hostop manages) is kept, never replaced
 * by the package's default, and nothing asks (dpkg(1), "--force-confold: If a conffile has been modified and the
 * version in the package did change, always keep the old version"). Every case dpkg would prompt for has "keep"
 * as its default, which --force-confdef takes: a first install over a file already at a conffile path keeps that
 * file too and leaves the package's copy as `<path>.dpkg-dist` (dpkg 1.21.22 src/main/configure.c: conffoptcells,
 * the NEWCONFFILEFLAG branch of deferred_configure_conffile, show_prompt "Keeping old config file as default").
 * A conffile equal to the old package's copy is replaced by the new one (CFO_INSTALL); the pass rewrites it after.
 * `dpkg -r` removes but keeps conffiles (purge would delete them): state `rc`, or `un` for a package with neither
 * conffiles nor postrm (dpkg(1) --remove; src/main/remove.c, removal_bulk). `dpkg -i` may downgrade (dpkg(1),
 * "downgrade(*)": forced by default). apt waits up to DPKG_LOCK_WAIT_S for the frontend and database locks another run holds
 * (apt 2.6.1 apt-pkg/deb/debsystem.cc, debSystem::Lock: `FindI("DPkg::Lock::Timeout", 0)`; listed in
 * doc/examples/configure-index, not in apt.conf(5)). dpkg never waits: a held lock fails it at once (lib/dpkg/
 * dbmodify.c modstatdb_lock, FILE_LOCK_NOWAIT → lib/dpkg/file.c file_lock, F_SETLK; no option or variable
 * changes that, through dpkg 1.23).
 */
const CONFFILES = ['--force-confdef', '--force-confold'];

/** How long a dpkg step waits for a dpkg lock held by another run (apt-daily-upgrade, an admin's apt), in s. */
export const DPKG_LOCK_WAIT_S = 30;
/** dpkg's messages for a held lock: the frontend lock, and the database lock (lib/dpkg/dbmodify.c). */
const DPKG_LOCKED = 'lock was locked by another process|database is locked by another process';

/**
 * `apt-get install name=version` selects that version and may downgrade (apt-get(8), install: "Both of the version
 * selection mechanisms can downgrade packages"); with -y a downgrade needs --allow-downgrades (apt 2.6.1
 * apt-private/private-install.cc: "Packages were downgraded and -y was used without --allow-downgrades.").
 */
function stepArgv(s: PackageStep): string[] {
  if (s.op === 'deb') return ['dpkg', ...CONFFILES, '-i', '--', s.file];
  if (s.op === 'remove') return ['dpkg', '-r', '--', s.name];
  return [
    'apt-get',
    'install',
    '-y',
    '-q',
    '--allow-downgrades',
    '-o',
    `DPkg::Lock::Timeout=${DPKG_LOCK_WAIT_S}`,
    ...CONFFILES.flatMap((o) => ['-o', `Dpkg::Options::=${o}`]),
    '--',
    s.version ? `${s.name}=${s.version}` : s.name,
  ];
}

/**
 * Runs each step in order, under the host lock; prints `step I RC OUTPUT-TAIL-BASE64` for each. debconf takes its
 * frontend from DEBIAN_FRONTEND before any other setting (Debconf/Config.pm, frontend()); `noninteractive` "makes
 * the default answers be used for all questions" (debconf(7)). stdin is /dev/null, and apt hands a stdin that is
 * not a terminal to dpkg as it is (apt-pkg/deb/dpkgpm.cc, direct_stdin): a prompt left over fails at once ("end
 * of file on stdin at conffile prompt", dpkg src/main/configure.c show_prompt) instead of hanging.
 */
export function installScript(steps: PackageStep[], stateRoot: string, fence?: FenceStamp): string {
  return [
    ...changeScriptHead(stateRoot, fence),
    'DEBIAN_FRONTEND=noninteractive; export DEBIAN_FRONTEND',
    'T=$(mktemp) || exit 3',
    ...steps.map((s, i) => {
      const run = `${quoteArgv(stepArgv(s))} </dev/null >"$T" 2>&1; rc=$?`;
      const report = `printf 'step ${i} %s %s\\n' "$rc" "$(tail -c 2000 "$T" | base64 -w0)"`;
      // dpkg does not wait for a lock another run holds (above): it is tried again, once a second, for as long as
      // apt would wait, when it failed for that reason alone (exit 2 and dpkg's own words, in the C locale).
      if (s.op === 'apt') return `${run}; ${report}`;
      return `n=0; while LC_ALL=C ${run}; [ "$rc" -eq 2 ] && [ "$n" -lt ${DPKG_LOCK_WAIT_S} ] && grep -Eq ${quoteArg(DPKG_LOCKED)} "$T"; do n=$((n+1)); sleep 1; done; ${report}`;
    }),
    'rm -f -- "$T"',
  ].join('\n');
}

export interface StepResult {
  code: number;
  /** The last 2,000 bytes of what the package manager printed. */
  output: string;
}

export function parseInstallOutput(stdout: string, count: number, host: string): StepResult[] {
  assertNotLocked(stdout, host);
  const out: StepResult[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^step (\d+) (\d+) ([A-Za-z0-9+/]*={0,2})$/.exec(line);
    if (!m || Number(m[1]) !== out.length) continue;
    out.push({ code: Number(m[2]), output: Buffer.from(m[3]!, 'base64').toString('utf8') });
  }
  if (out.length !== count)
    throw new ProtocolError(`install script reported ${out.length} of ${count} steps`, { host });
  return out;
}
