import { createHash, randomBytes } from 'node:crypto';
import type { ServiceAction } from '../core/diff.js';
import { HostopError, ProtocolError } from '../core/errors.js';
import type { ValidatorSpec } from '../core/model.js';
import { quoteArg, quoteArgv } from '../ssh/quote.js';

/**
 * Pure builders of the POSIX sh scripts that apply runs on a host (through one persistent shell), and strict
 * parsers of what they print. Every variable part goes through `quoteArg`; file contents travel as base64 in a
 * quoted heredoc, so no byte of user data is ever read by the shell as code.
 *
 * On-host layout under `stateRoot` (default /var/lib/hostop, mode 0700):
 *   managed.json       which paths hostop manages, for which resource (the ownership inventory)
 *   backup/<id>        the previous version of a path, taken just before it is replaced (rollback)
 *   original/<id>      the version found before hostop first managed the path (restored when pruned)
 */
export const DEFAULT_STATE_ROOT = '/var/lib/hostop';

/** Where the inventory lives under a state root. */
export function inventoryPath(stateRoot: string): string {
  return `${stateRoot}/managed.json`;
}

/**
 * First line of every script that changes a host. Once a script has reached the host it must run to its end even
 * if the connection drops: the shell's stdout is then a broken pipe, and without this the first `printf` after the
 * drop kills it with SIGPIPE — after a target was renamed but before its unit was restarted, so the host kept
 * running the old config while the next pass saw the new file and found nothing to do. Ignored, a write just fails.
 */
const RUN_TO_THE_END = "umask 077; trap '' PIPE";

/** How long a script waits for the one before it on the same host (flock -w), in seconds. */
export const HOST_LOCK_WAIT_S = 60;

/**
 * One script at a time per host: a script the daemon gave up on (its deadline passed, its connection dropped)
 * still runs to its end on the host, and the next pass's scripts must not overlap it (an older inventory would
 * overwrite a newer one). The lock is flock(1) on `<stateRoot>/.lock`, held by the script's shell on fd 9: the
 * kernel releases it when that shell exits, however it ends, so a lock is never stale. A script that waits longer
 * than HOST_LOCK_WAIT_S prints `locked` and nothing else (see assertNotLocked).
 */
function hostLock(stateRoot: string): string {
  const root = quoteArg(stateRoot);
  return (
    `{ mkdir -p -- ${root} && exec 9>>${quoteArg(`${stateRoot}/.lock`)} && flock -w ${HOST_LOCK_WAIT_S} 9; } 2>/dev/null ` +
    '|| { echo locked; exit 75; }'
  );
}

/**
 * Shell functions of every script that writes a managed path. None of them lets root follow a name that a
 * non-root user controls: a user who can write a directory on the way to a target can swap any name in it for a
 * symlink at any moment, so in such a directory every step is done as that user, or not at all.
 *
 * `hostop_writer OWNER DIR` walks DIR and each of its ancestors (lstat: a symlinked ancestor is refused) and
 * prints `UID AT`: `0 -` when only root can change any of them, else the one non-root user who can (the owner of a
 * directory can always chmod it) and the deepest directory that user owns. Group or other write permission (or
 * an ACL, whose mask shows in the group bits: acl(5)) is refused, except on a sticky ancestor above the deepest
 * existing directory (others can add names there, not rename ours); in a sticky directory itself others can
 * plant a name before hostop creates it. With OWNER, that user must be OWNER: a file owned by anyone else
 * (root above all) in such a directory cannot be kept safe from it. A refusal prints why on stdout, status 3.
 * `hostop_as UID CMD...` runs CMD as that user with its own groups (setpriv(1), util-linux), without fd 9, under
 * a root-owned `timeout -s KILL`: the user can stop its own processes, never hold the host lock for ever.
 * `hostop_backup UID P SAVED` copies P into root's state: `cp -a` where root alone controls the directory; as
 * the user's directory, no recursion (a tree or a swapped subdirectory is refused, never copied by root) and
 * bounded in time (a FIFO swapped in).
 * `hostop_run UID CMD...` runs CMD as root when UID is 0, else as that user.
 * `hostop_put UID TEMP OWNER GROUP MODE` writes stdin to TEMP, which must not exist (set -C: O_EXCL, so never
 * through a symlink), then sets owner (root only; a user's file is its own), group and mode by TEMP's name —
 * safe: root acts only where no user can rename, a user acts as itself.
 * `hostop_restore UID SAVED TEMP TARGET` puts a saved copy (backup/ or original/, root-only) back by a rename. As
 * a user: a symlink is recreated, a regular file of that same user is streamed in by root's shell (so the user
 * never reads hostop's state) and anything else is refused.
 */
export const HOST_FUNCTIONS = `hostop_writer() {
  hw_o=$1; hw_d=$2; hw_w=0; hw_at=-; hw_nl='
'
  set --
  while :; do
    if [ -L "$hw_d" ]; then printf 'parent directory %s is reached through a symlink\\n' "$hw_d"; return 3; fi
    if [ -e "$hw_d" ]; then set -- "$@" "$hw_d"; fi
    [ "$hw_d" = / ] && break
    hw_d=\${hw_d%/*}; [ -n "$hw_d" ] || hw_d=/
  done
  hw_s=$(stat -c '%u %g %a' -- "$@") || return 3
  hw_deepest=1
  for hw_d do
    hw_l=\${hw_s%%"$hw_nl"*}; hw_s=\${hw_s#*"$hw_nl"}
    hw_u=\${hw_l%% *}; hw_l=\${hw_l#* }; hw_a=\${hw_l#* }; hw_m=$((0$hw_a))
    if [ $((hw_m & 18)) -ne 0 ] && { [ $((hw_m & 512)) -eq 0 ] || [ $hw_deepest = 1 ]; }; then printf 'directory %s is writable by other users (mode %s, or an ACL); hostop refuses to write in or below it\\n' "$hw_d" "$hw_a"; return 3; fi
    hw_deepest=0
    if [ "$hw_u" -ne 0 ]; then
      if [ "$hw_w" -ne 0 ] && [ "$hw_w" -ne "$hw_u" ]; then printf 'directories %s and %s belong to two different users; hostop refuses to write below them\\n' "$hw_at" "$hw_d"; return 3; fi
      [ "$hw_w" -ne 0 ] || hw_at=$hw_d; hw_w=$hw_u
    fi
  done
  if [ -n "$hw_o" ] && [ "$hw_w" -ne 0 ] && [ "$hw_w" != "$(id -u -- "$hw_o" 2>/dev/null)" ]; then
    printf 'directory %s is writable by user %s (uid %s): a file owned by %s there cannot be kept safe from that user; make %s its owner, or move the file\\n' "$hw_at" "$(stat -c %U -- "$hw_at")" "$hw_w" "$hw_o" "$(stat -c %U -- "$hw_at")"
    return 3
  fi
  printf '%s %s\\n' "$hw_w" "$hw_at"
}
hostop_as() { ha_u=$1; shift; timeout -s KILL 120 setpriv --reuid="$ha_u" --regid="$(id -g -- "$ha_u")" --init-groups -- "$@" 9>&-; }
hostop_backup() {
  if [ "$1" = 0 ]; then cp -a -- "$2" "$3"; else timeout -s KILL 30 cp -P --preserve=all -- "$2" "$3"; fi
}
hostop_run() { hr_u=$1; shift; if [ "$hr_u" = 0 ]; then "$@"; else hostop_as "$hr_u" "$@"; fi; }
hostop_put() {
  if [ "$1" = 0 ]; then rm -f -- "$2" && (set -C; cat > "$2") && chown -- "$3:$4" "$2" && chmod -- "$5" "$2"
  else hostop_as "$1" sh -c 'rm -f -- "$1" && (set -C; cat > "$1") && chgrp -- "$2" "$1" && chmod -- "$3" "$1"' sh "$2" "$4" "$5"; fi
}
hostop_restore() {
  if [ "$1" = 0 ]; then rm -f -- "$3" && cp -a -- "$2" "$3" && mv -fT -- "$3" "$4"
  elif [ -L "$2" ]; then hostop_as "$1" sh -c 'rm -f -- "$2" && ln -s -- "$1" "$2" && mv -fT -- "$2" "$3"' sh "$(readlink -- "$2")" "$3" "$4"
  elif [ -f "$2" ] && [ "$(stat -c %u -- "$2")" = "$1" ]; then
    hostop_as "$1" sh -c 'rm -f -- "$1" && (set -C; cat > "$1") && chgrp -- "$2" "$1" && chmod -- "$3" "$1" && mv -fT -- "$1" "$4"' sh "$3" "$(stat -c %g -- "$2")" "$(stat -c %a -- "$2")" "$4" < "$2"
  else printf 'the saved copy of %s is not a regular file of uid %s; left as it is\\n' "$4" "$1" >&2; return 3; fi
}`;

/**
 * A daemon's proof, carried by every script it runs that changes a host, that it owns the host now (several
 * daemons on etcd, issue 17): the create revision of its ownership key, which etcd makes strictly greater for
 * every later claim of the host by anyone.
 */
export interface Fence {
  /** A positive decimal integer (an etcd revision, int64). */
  token: string;
  /**
   * The epoch of the etcd data the token is a revision of (`drawEpoch`: the time it was drawn, then random digits;
   * kept in etcd under the prefix): tokens of two epochs do not compare. A wiped or new etcd has no epoch, and its
   * first daemon draws a new one.
   */
  epoch: string;
  /** The daemon's member name, recorded in the host's fence log. */
  member: string;
}

/** What the host records of each fenced script: which request it was. */
export type FenceStamp = Fence & { op: string };

/** The host's fencing files under its state root: the highest token seen, and a log of the scripts let in. */
export function fencePaths(stateRoot: string): { token: string; log: string } {
  return { token: `${stateRoot}/fence`, log: `${stateRoot}/fence.log` };
}

/** Lines kept of the fence log once it passes 64 KiB (it is trimmed, never rotated away). */
const FENCE_LOG_KEEP = 500;

/**
 * Under the host lock, so no claim can slip in between the check and the writes: the host keeps the highest
 * token any script brought in `fence`, with its epoch (`TOKEN EPOCH`). A script with a lower token of the same
 * epoch is from a daemon that lost the host (paused, partitioned, or simply late) and is refused before it
 * touches anything (`fenced N`, status 76). A higher or equal token is let in, raises the kept one, and is logged
 * as `TIME TOKEN MEMBER OP EPOCH` (TIME in Unix seconds) in `fence.log`: the host's own record of who wrote to
 * it, and in which order.
 *
 * Revisions of two etcd data histories do not compare, so epochs are ordered by their first 12 hex digits (when
 * they were drawn, in ms since 1970). A token of a newer epoch is let in whatever its value, and the host moves to
 * that epoch (`$fa` says from what): the fleet's etcd was wiped or replaced (its revisions start again at 1), or an
 * operator deleted the epoch key after restoring a snapshot. A script of an older epoch is refused (`fenced
 * epoch`): a daemon that slept through the move cannot write, nor take the host back.
 */
function fenceCheck(stateRoot: string, f: FenceStamp): string {
  if (!/^[1-9][0-9]{0,18}$/.test(f.token))
    throw new HostopError('BadFence', `not a fencing token: ${f.token}`, false);
  if (!EPOCH.test(f.epoch)) throw new HostopError('BadFence', `not a fencing epoch: ${f.epoch}`, false);
  const p = fencePaths(stateRoot);
  const [F, L, T, E] = [quoteArg(p.token), quoteArg(p.log), f.token, f.epoch];
  // ${fe%<20 ?>} is the epoch's first 12 hex digits; dash's arithmetic reads 0x constants (POSIX).
  const drawn = Number.parseInt(f.epoch.slice(0, 12), 16);
  return [
    `f=; fe=; { read -r f fe _ < ${F}; } 2>/dev/null; case $f in ''|*[!0-9]*) f=0;; esac`,
    `case $fe in ${'?'.repeat(32)}) case $fe in *[!0-9a-f]*) fe=;; esac;; *) fe=;; esac`,
    `fd=0; [ -z "$fe" ] || fd=$((0x\${fe%${'?'.repeat(20)}}))`,
    `if [ "$fe" = ${E} ]; then if [ "$f" -gt ${T} ]; then echo "fenced $f"; exit 76; fi`,
    `elif [ "$fd" -ge ${drawn} ]; then echo 'fenced epoch'; exit 76; fi`,
    `fa=; if [ -n "$fe" ] && [ "$fe" != ${E} ]; then fa="$fe $f"; fi`,
    `if [ "$fe" != ${E} ] || [ "$f" -lt ${T} ]; then { printf '%s %s\n' ${T} ${E} > ${F}.new && mv -f -- ${F}.new ${F}; } 2>/dev/null || { echo 'fenced unwritable'; exit 76; }; fi`,
    `[ "$(stat -c %s -- ${L} 2>/dev/null || echo 0)" -le 65536 ] || { tail -n ${FENCE_LOG_KEEP} -- ${L} > ${L}.new && mv -f -- ${L}.new ${L}; } 2>/dev/null`,
    `printf '%s %s %s %s %s\n' "$(date +%s.%N)" ${T} ${quoteArg(f.member)} ${quoteArg(f.op)} ${E} >> ${L}`,
  ].join('\n');
}

/** A fencing epoch: 12 hex digits of the ms it was drawn at, then 20 random ones. */
export const EPOCH = /^[0-9a-f]{32}$/;

/** A new fencing epoch, later than any drawn before by this clock. */
export function drawEpoch(now = Date.now(), random = randomBytes(10)): string {
  return now.toString(16).padStart(12, '0').slice(-12) + random.toString('hex');
}

/**
 * The head of every script that changes a host: run to the end, one at a time (and, when fenced, only while
 * this daemon's fencing token is the host's highest), with the functions above.
 */
export function changeScriptHead(stateRoot: string, fence?: FenceStamp): string[] {
  return [
    RUN_TO_THE_END,
    hostLock(stateRoot),
    ...(fence ? [fenceCheck(stateRoot, fence)] : []),
    HOST_FUNCTIONS,
  ];
}

/**
 * Only raises the host's fence to this daemon's token (its first act on a host it has just claimed); says so when
 * the host moved from another epoch (`fence adopted EPOCH TOKEN`).
 */
export function raiseFenceScript(stateRoot: string, fence: FenceStamp): string {
  return `${[...changeScriptHead(stateRoot, fence), '[ -z "$fa" ] || echo "fence adopted $fa"', 'echo fence ok'].join('\n')}\n`;
}

/** The fence raised; `adopted` is the fence of the epoch the host left for this one, if it held one. */
export function parseRaiseFenceOutput(
  stdout: string,
  host: string,
): { adopted?: { epoch: string; token: string } } {
  assertNotLocked(stdout, host);
  const m = /^(?:fence adopted ([0-9a-f]+) ([0-9]+)\n)?fence ok\n$/.exec(stdout);
  if (!m) throw new ProtocolError('fence script output is incomplete', { host });
  return m[1] ? { adopted: { epoch: m[1], token: m[2]! } } : {};
}

/** `W=...` for DIR: the writer check, as its own command so the variables outlive the `$(...)` that use them. */
function writerOf(path: string, owner = ''): string {
  return `W=$(hostop_writer ${quoteArg(owner)} ${quoteArg(parentOf(path))}); wrc=$?; w=\${W%% *}`;
}

/** The directory a path is in (`/` for a top-level path). */
export function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

/**
 * A script that printed `locked` waited HOST_LOCK_WAIT_S for another hostop script on the host and gave up; one
 * that printed `fenced N` was refused by the host's fence (another daemon owns the host now) and did nothing.
 */
export function assertNotLocked(stdout: string, host: string): void {
  if (stdout === 'locked\n')
    throw new HostopError(
      'HostBusy',
      `another hostop script is still running on the host (it held the host lock for over ${HOST_LOCK_WAIT_S} s); will retry`,
      true,
      { host },
    );
  const fenced = /^fenced (\S+)\n$/.exec(stdout);
  if (fenced)
    throw new HostopError(
      'Fenced',
      fenced[1] === 'unwritable'
        ? 'the host fence could not be written; nothing was changed'
        : fenced[1] === 'epoch'
          ? "the host follows a newer fencing epoch than this daemon's (it slept through a move of the fleet's etcd, or its clock was behind when it drew its epoch); nothing was changed"
          : `another hostop daemon took this host over (the host holds fencing token ${fenced[1]}); nothing was changed`,
      false,
      { host },
    );
}

/** The candidate sits beside its target so the final rename is atomic (same filesystem). */
export function tempPathFor(path: string): string {
  const i = path.lastIndexOf('/');
  return `${path.slice(0, i)}/.${path.slice(i + 1)}.hostop-new`;
}

/** A stable, filename-safe id for a target path. */
export function pathId(path: string): string {
  return createHash('sha256').update(path).digest('hex').slice(0, 32);
}

export interface StageItem {
  path: string;
  content: string;
  mode: string;
  owner: string;
  group: string;
  validate?: ValidatorSpec;
}

export interface StageResult {
  /** 0 when the candidate was written with its mode and owner. */
  written: number;
  /** Exit code of the validator (undefined when there is none); 124 means it was killed at its deadline. */
  validatorCode?: number;
  /** First few KB of the validator's combined output (or of the staging error). */
  output: string;
}

/**
 * `base64 -d <<'HOSTOP_DATA_END' | CONSUMER` + the data + the delimiter line: the next command goes on the line
 * after the delimiter. base64 has no `_`, so the data cannot end the heredoc.
 */
export function pipeFromHeredoc(consumer: string, content: string | Buffer): string {
  const b64 = (typeof content === 'string' ? Buffer.from(content, 'utf8') : content)
    .toString('base64')
    .replace(/.{1,76}/g, '$&\n');
  return `base64 -d <<'HOSTOP_DATA_END' | ${consumer}\n${b64}HOSTOP_DATA_END\n`;
}

/** Writes `content` to `path` (in root's state directory) via a sibling temp file and an atomic rename. */
function atomicWrite(path: string, content: string, mode: string): string {
  const t = quoteArg(tempPathFor(path));
  return `${pipeFromHeredoc(`hostop_put 0 ${t} root root ${quoteArg(mode)}`, content)}mv -fT -- ${t} ${quoteArg(path)}`;
}

/**
 * Stage: write every candidate next to its target, set mode and owner, then run its validator under `timeout`
 * — as root where no other user can change a directory on the way, as the file's owner where that owner can
 * (see HOST_FUNCTIONS), refused anywhere else. A pre-existing temp path of any kind is replaced, never written
 * through. Missing parent directories are created 0755 like any directory under /etc (the script's umask 077 is
 * for the candidates; a directory only root can enter would hide a 0644 file from the service that reads it).
 * Prints `staged I RC B64ERR` and, when a validator ran, `validated I RC B64OUT` per item.
 */
export function stageScript(items: StageItem[], stateRoot: string, fence?: FenceStamp): string {
  const lines = changeScriptHead(stateRoot, fence);
  items.forEach((it, i) => {
    const d = quoteArg(parentOf(it.path));
    const t = quoteArg(tempPathFor(it.path));
    const put = `hostop_put "$w" ${t} ${quoteArg(it.owner)} ${quoteArg(it.group)} ${quoteArg(it.mode)}`;
    lines.push(
      writerOf(it.path, it.owner),
      `err=$( { [ $wrc -eq 0 ] || { printf '%s\\n' "$W"; exit 3; }; ` +
        // Missing directories are made, then checked too: one a user made first would be theirs.
        `if [ ! -d ${d} ]; then { if [ "$w" = 0 ]; then (umask 022 && mkdir -p -- ${d}); else hostop_as "$w" sh -c 'umask 022 && mkdir -p -- "$1"' sh ${d}; fi; } || exit 3; ` +
        `W=$(hostop_writer ${quoteArg(it.owner)} ${d}) || { printf '%s\\n' "$W"; exit 3; }; [ "\${W%% *}" = "$w" ] || { printf 'the directories above %s changed hands while staging\\n' ${d}; exit 3; }; fi; ` +
        pipeFromHeredoc(put, it.content) +
        '} 2>&1 )',
      `rc=$?; [ $rc -ne 0 ] && [ $wrc -eq 0 ] && hostop_run "$w" rm -f -- ${t}; printf 'staged ${i} %s %s\\n' $rc "$(printf '%s' "$err" | head -c 2000 | base64 | tr -d '\\n')"`,
    );
    if (it.validate) {
      // A replacer function: a replacement string would read `$$`, `$&` or `$'` in the path as patterns.
      const argv = it.validate.argv.map((a) => a.replaceAll('{}', () => tempPathFor(it.path)));
      const secs = Math.max(1, Math.ceil(it.validate.timeoutMs / 1000));
      lines.push(
        `if [ $rc -eq 0 ]; then out=$(hostop_run "$w" timeout -k 2 ${secs} ${quoteArgv(argv)} 2>&1 </dev/null 9>&-); vrc=$?; ` +
          `printf 'validated ${i} %s %s\\n' $vrc "$(printf '%s' "$out" | head -c 4000 | base64 | tr -d '\\n')"; fi`,
      );
    }
  });
  return `${lines.join('\n')}\n`;
}

export function parseStageOutput(stdout: string, count: number, host: string): StageResult[] {
  assertNotLocked(stdout, host);
  const results: StageResult[] = Array.from({ length: count }, () => ({ written: -1, output: '' }));
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const m = /^(staged|validated) (\d+) (\d+) ?([A-Za-z0-9+/=]*)$/.exec(line);
    const r = m ? results[Number(m[2])] : undefined;
    if (!m || !r)
      throw new ProtocolError(
        `unexpected line from the stage script: ${JSON.stringify(line.slice(0, 200))}`,
        { host },
      );
    const text = Buffer.from(m[4] ?? '', 'base64').toString('utf8');
    if (m[1] === 'staged') {
      r.written = Number(m[3]);
      r.output = text;
    } else {
      r.validatorCode = Number(m[3]);
      r.output = text;
    }
  }
  const missing = results.findIndex((r) => r.written < 0);
  if (missing >= 0) throw new ProtocolError(`stage script output ends before item ${missing}`, { host });
  return results;
}

export interface ActivateItem {
  path: string;
  /** Take the pre-hostop copy into original/ (first time hostop manages an existing path). */
  keepOriginal: boolean;
}

export interface UnitAction {
  unit: string;
  action: ServiceAction;
}

/**
 * Activate: back up each current target, rename each staged candidate over it (atomic; as the directory's
 * user where one can write it, see HOST_FUNCTIONS), fix modes and owners, remove the candidates of `unstage`,
 * record the new inventory, then `daemon-reload` if asked and each unit action once. A backup is `cp -a`:
 * it copies a symlink as a link and a FIFO as a FIFO, never reading through either.
 * Prints `activated I RC existed|absent` per item, `fixed I RC` per chmod and `unit I RC BEFORE AFTER B64OUT`
 * per action.
 */
export function activateScript(
  items: ActivateItem[],
  opts: {
    stateRoot: string;
    inventory: string;
    daemonReload: boolean;
    units: UnitAction[];
    chmods?: ChmodItem[];
    /** Targets whose staged candidates are to be removed (their resource failed). */
    unstage?: string[];
    fence?: FenceStamp;
  },
): string {
  const root = opts.stateRoot;
  const lines = [
    ...changeScriptHead(root, opts.fence),
    `mkdir -p -- ${quoteArg(`${root}/backup`)} ${quoteArg(`${root}/original`)} && chmod 700 -- ${quoteArg(root)}`,
  ];
  items.forEach((it, i) => {
    const p = quoteArg(it.path);
    const b = quoteArg(`${root}/backup/${pathId(it.path)}`);
    const o = quoteArg(`${root}/original/${pathId(it.path)}`);
    // `-L` too: a saved original that is a dangling link is there, and cp would write through it.
    const original = it.keepOriginal
      ? ` && { [ -e ${o} ] || [ -L ${o} ] || hostop_backup "$w" ${p} ${o}; }`
      : '';
    lines.push(
      `st=absent; ${writerOf(it.path)}; [ $wrc -eq 0 ] && ` +
        `{ if [ -e ${p} ] || [ -L ${p} ]; then st=existed; rm -rf -- ${b} && hostop_backup "$w" ${p} ${b}${original}; else rm -rf -- ${b}; fi; } && ` +
        `hostop_run "$w" mv -fT -- ${quoteArg(tempPathFor(it.path))} ${p} </dev/null >/dev/null 2>&1; printf 'activated ${i} %s %s\\n' $? $st`,
    );
  });
  (opts.chmods ?? []).forEach((c, i) => {
    const p = quoteArg(c.path);
    const g = quoteArg(c.group);
    const m = quoteArg(c.mode);
    lines.push(
      `${writerOf(c.path, c.owner)}; [ $wrc -eq 0 ] && if [ "$w" = 0 ]; then chown -h -- ${quoteArg(`${c.owner}:${c.group}`)} ${p} && chmod -- ${m} ${p}; ` +
        `else hostop_as "$w" sh -c 'chgrp -h -- "$1" "$3" && chmod -- "$2" "$3"' sh ${g} ${m} ${p} </dev/null >/dev/null 2>&1; fi; printf 'fixed ${i} %s\\n' $?`,
    );
  });
  for (const path of opts.unstage ?? []) lines.push(unstageLine(path));
  lines.push(`${atomicWrite(inventoryPath(root), opts.inventory, '0600')}; printf 'inventory %s\\n' $?`);
  if (opts.daemonReload) lines.push(`systemctl daemon-reload; printf 'daemon-reload %s\\n' $?`);
  lines.push(...unitActionLines(opts.units));
  return `${lines.join('\n')}\n`;
}

/** Removes the candidate beside `path`, as whoever may act in its directory (prints nothing). */
function unstageLine(path: string): string {
  return `${writerOf(path)}; [ $wrc -eq 0 ] && hostop_run "$w" rm -f -- ${quoteArg(tempPathFor(path))} </dev/null >/dev/null 2>&1`;
}

/**
 * Removes the candidates beside `paths` that a pass which lost its connection left behind (under the host lock,
 * as whoever may act in each directory). Prints `unstaged`.
 */
export function unstageScript(paths: string[], stateRoot: string, fence?: FenceStamp): string {
  return `${[...changeScriptHead(stateRoot, fence), ...paths.map(unstageLine), 'echo unstaged'].join('\n')}\n`;
}

export function parseUnstageOutput(stdout: string, host: string): void {
  assertNotLocked(stdout, host);
  if (!stdout.endsWith('unstaged\n'))
    throw new ProtocolError('unstage script output is incomplete', { host });
}

/** What one `systemctl ACTION UNIT` did, as the activate and restore scripts report it. */
export interface UnitResult {
  /** systemctl's exit status (not a pipe's: a failed reload must be seen as failed). */
  code: number;
  /** The unit's ExecMainStartTimestampMonotonic before and after: a restart that happened moves it. */
  mainStartBefore: string;
  mainStartAfter: string;
  /** systemctl's own words (first 2000 bytes), e.g. "Job type reload is not applicable for unit …". */
  output: string;
}

/**
 * One line per unit action: the main process's start time before and after (systemd.exec(5): a new main
 * process sets ExecMainStartTimestampMonotonic), systemctl's exit status and output.
 * Prints `unit I RC BEFORE AFTER B64OUT`.
 */
function unitActionLines(units: UnitAction[]): string[] {
  return units.map((u, i) => {
    const unit = quoteArg(u.unit);
    const started = `systemctl show -p ExecMainStartTimestampMonotonic --value -- ${unit} 2>/dev/null`;
    return (
      `b=$(${started}); out=$(systemctl ${u.action} -- ${unit} </dev/null 2>&1); rc=$?; a=$(${started}); ` +
      `printf 'unit ${i} %s %s %s %s\\n' $rc "\${b:-0}" "\${a:-0}" "$(printf '%s' "$out" | head -c 2000 | base64 | tr -d '\\n')"`
    );
  });
}

const UNIT_LINE = /^unit (\d+) (\d+) (\d+) (\d+) ([A-Za-z0-9+/]*={0,2})$/;

function unitResult(m: RegExpExecArray): UnitResult {
  return {
    code: Number(m[2]),
    mainStartBefore: m[3] as string,
    mainStartAfter: m[4] as string,
    output: Buffer.from(m[5] as string, 'base64').toString('utf8'),
  };
}

export interface ChmodItem {
  path: string;
  mode: string;
  owner: string;
  group: string;
}

export interface ActivateResult {
  activated: { code: number; existed: boolean }[];
  fixed: number[];
  inventory: number;
  daemonReload?: number;
  units: UnitResult[];
}

export function parseActivateOutput(stdout: string, items: number, host: string): ActivateResult {
  assertNotLocked(stdout, host);
  const out: ActivateResult = { activated: [], fixed: [], inventory: -1, units: [] };
  parseLines(stdout, 'activate', host, [
    [
      /^activated (\d+) (\d+) (existed|absent)$/,
      (m) => {
        out.activated[Number(m[1])] = { code: Number(m[2]), existed: m[3] === 'existed' };
      },
    ],
    [
      /^fixed (\d+) (\d+)$/,
      (m) => {
        out.fixed[Number(m[1])] = Number(m[2]);
      },
    ],
    [
      /^inventory (\d+)$/,
      (m) => {
        out.inventory = Number(m[1]);
      },
    ],
    [
      /^daemon-reload (\d+)$/,
      (m) => {
        out.daemonReload = Number(m[1]);
      },
    ],
    [
      UNIT_LINE,
      (m) => {
        out.units[Number(m[1])] = unitResult(m);
      },
    ],
  ]);
  if (out.activated.filter(Boolean).length !== items || out.inventory < 0) {
    throw new ProtocolError('activate script output is incomplete (connection lost mid-apply?)', { host });
  }
  return out;
}

/** Dispatches every non-empty line to the first matching handler; any other line is a ProtocolError. */
function parseLines(
  stdout: string,
  script: string,
  host: string,
  handlers: [RegExp, (m: RegExpExecArray) => unknown][],
): void {
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const hit = handlers.find(([re]) => re.test(line));
    if (!hit)
      throw new ProtocolError(
        `unexpected line from the ${script} script: ${JSON.stringify(line.slice(0, 200))}`,
        { host },
      );
    hit[1](hit[0].exec(line)!);
  }
}

export interface RestoreItem {
  path: string;
  /** The path existed before this apply: put the backup back; otherwise remove what apply created. */
  existed: boolean;
  /** Where to restore from (backup/ for rollback, original/ for prune). */
  from: 'backup' | 'original';
}

/**
 * Restore files (rollback of a failed change, or prune of a file whose resource left), rewrite the inventory,
 * and run unit actions. Restoring is itself atomic: copy beside the target, then rename over it.
 * Prints `restored I RC`, `inventory RC`, `unit I RC BEFORE AFTER B64OUT`.
 */
export function restoreScript(
  items: RestoreItem[],
  opts: {
    stateRoot: string;
    inventory: string;
    daemonReload: boolean;
    units: UnitAction[];
    fence?: FenceStamp;
  },
): string {
  const lines = changeScriptHead(opts.stateRoot, opts.fence);
  items.forEach((it, i) => {
    const p = quoteArg(it.path);
    const src = quoteArg(`${opts.stateRoot}/${it.from}/${pathId(it.path)}`);
    const t = quoteArg(tempPathFor(it.path));
    const restore = `hostop_restore "$w" ${src} ${t} ${p} >/dev/null 2>&1`;
    // A pruned path whose original was never copied was never rewritten by hostop: it stays as it is.
    const body = !it.existed
      ? `hostop_run "$w" rm -f -- ${p} </dev/null >/dev/null 2>&1`
      : it.from === 'original'
        ? `if [ -e ${src} ] || [ -L ${src} ]; then ${restore} && rm -f -- ${src}; fi`
        : restore;
    lines.push(`${writerOf(it.path)}; [ $wrc -eq 0 ] && ${body}; printf 'restored ${i} %s\\n' $?`);
  });
  lines.push(
    `${atomicWrite(inventoryPath(opts.stateRoot), opts.inventory, '0600')}; printf 'inventory %s\\n' $?`,
  );
  if (opts.daemonReload) lines.push(`systemctl daemon-reload; printf 'daemon-reload %s\\n' $?`);
  lines.push(...unitActionLines(opts.units));
  return `${lines.join('\n')}\n`;
}

export function parseRestoreOutput(
  stdout: string,
  host: string,
): { restored: number[]; inventory: number; units: UnitResult[] } {
  assertNotLocked(stdout, host);
  const out = { restored: [] as number[], inventory: -1, units: [] as UnitResult[] };
  parseLines(stdout, 'restore', host, [
    [
      /^restored (\d+) (\d+)$/,
      (m) => {
        out.restored[Number(m[1])] = Number(m[2]);
      },
    ],
    [
      /^inventory (\d+)$/,
      (m) => {
        out.inventory = Number(m[1]);
      },
    ],
    [/^daemon-reload \d+$/, () => undefined],
    [
      UNIT_LINE,
      (m) => {
        out.units[Number(m[1])] = unitResult(m);
      },
    ],
  ]);
  if (out.inventory < 0) throw new ProtocolError('restore script output is incomplete', { host });
  return out;
}
