import { ProtocolError } from '../core/errors.js';
import { quoteArg, quoteArgv } from '../ssh/quote.js';
import { assertNotLocked, changeScriptHead, pipeFromHeredoc } from './apply-scripts.js';

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
 * version in the package did change, always keep the old version"). `dpkg -r` removes but keeps conffiles (purge
 * would delete them). apt waits up to 60 s for a dpkg lock another run holds (apt.conf(5), DPkg::Lock::Timeout).
 */
const CONFFILES = ['--force-confdef', '--force-confold'];

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
    'DPkg::Lock::Timeout=60',
    ...CONFFILES.flatMap((o) => ['-o', `Dpkg::Options::=${o}`]),
    '--',
    s.version ? `${s.name}=${s.version}` : s.name,
  ];
}

/** Runs each step in order, under the host lock; prints `step I RC OUTPUT-TAIL-BASE64` for each. */
export function installScript(steps: PackageStep[], stateRoot: string): string {
  return [
    ...changeScriptHead(stateRoot),
    'DEBIAN_FRONTEND=noninteractive; export DEBIAN_FRONTEND',
    'T=$(mktemp) || exit 3',
    ...steps.map(
      (s, i) =>
        `${quoteArgv(stepArgv(s))} </dev/null >"$T" 2>&1; rc=$?; printf 'step ${i} %s %s\\n' "$rc" "$(tail -c 2000 "$T" | base64 -w0)"`,
    ),
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
