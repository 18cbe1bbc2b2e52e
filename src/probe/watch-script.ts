import { DesiredStateError, ProtocolError } from '../core/errors.js';
import { quoteArg } from '../ssh/quote.js';
import { SIGNATURE } from './probe-script.js';

/**
 * A host watch (issue 14; design and sources: docs/design/host-watches.md). It runs on its own exec channel and
 * only ever says that something hostop manages may have changed; the pass that follows decides. It reports
 * indexes and stat signatures, never names (a name a user chose cannot forge a record), and leaves nothing on
 * the host: it dies with its channel (stdin EOF → the EXIT trap kills its process group; a write to a closed
 * channel → SIGPIPE) and, should the TCP connection die silently, when the daemon's heartbeat stops for `leaseS`.
 *
 * Two rungs, chosen on the host: `inotify` when inotifywait is installed (the kernel wakes it; the shell idles
 * in `read`), else `poll`, whose clock is the daemon's heartbeat: builtin existence tests every tick (no process),
 * one `stat` of everything every `statEvery` ticks.
 */
export interface WatchRequest {
  /** Managed paths: `f I SIG` when path I may have changed (SIG: its stat signature now, `-` when missing). */
  paths: string[];
  /** Units: `u J SIG` when unit J started, stopped or restarted (SIG: its invocation symlink's signature). */
  units: string[];
  /** `auto`: inotify where inotifywait is installed, else poll. `poll`: always poll. */
  mechanism: 'auto' | 'poll';
  /** Poll: one `stat` of every path, invocation link and enablement directory every this many ticks. */
  statEvery: number;
  /** Poll: the lease is renewed every this many ticks (renewing forks; a tick does not). Inotify: every line. */
  renewEvery: number;
  /** No heartbeat for this long: the watch ends itself (a half-open connection). */
  leaseS: number;
}

export type WatchMechanism = 'inotify' | 'poll';

export type WatchRecord =
  | { type: 'ready'; mechanism: WatchMechanism }
  | { type: 'file' | 'unit'; index: number; signature: string }
  | { type: 'enablement' }
  | { type: 'lost'; why: string }
  | { type: 'end' };

/**
 * systemd keeps `invocation:UNIT` here exactly while the unit has a live invocation, replaced atomically on each
 * start (src/core/unit.c, unit_export_invocation_id / unit_unlink_state_files, v252): its signature changes
 * when the unit starts, stops or restarts.
 */
export const INVOCATION_DIR = '/run/systemd/units';
export const invocationLink = (unit: string) => `${INVOCATION_DIR}/invocation:${unit}`;
/** Enablement is links in these directories (shared/install.c, find_symlinks_in_scope, v252). */
const ENABLEMENT_GLOBS = '/etc/systemd/system/*.wants /etc/systemd/system/*.requires';
const SYSTEMD_UNIT = /^[A-Za-z0-9:_.\\@-]+$/;
/** inotify events that any change to a name in a watched directory raises (inotifywait(1); design §3). */
const EVENTS =
  'close_write,moved_to,moved_from,create,delete,attrib,delete_self,move_self,unmount,q_overflow';

interface Target {
  v: string;
  value: string;
  record: string;
}

/**
 * The watch script (pure). Prints the signature of every target once (`f I SIG`, `u J SIG`) as soon as the watch
 * is established, then `ready inotify|poll`, then a record per change. Throws DesiredStateError for a relative
 * path or a bad unit name.
 */
export function buildWatchScript(req: WatchRequest): string {
  for (const p of req.paths)
    if (!p.startsWith('/') || p.includes('\n'))
      throw new DesiredStateError(`watch path must be absolute: ${JSON.stringify(p)}`);
  for (const u of req.units)
    if (!SYSTEMD_UNIT.test(u) || u.startsWith('-'))
      throw new DesiredStateError(`not a systemd unit name: ${JSON.stringify(u)}`);
  const targets: Target[] = [
    ...req.paths.map((p, i) => ({ v: `p${i}`, value: p, record: `f ${i}` })),
    ...req.units.map((u, j) => ({ v: `u${j}`, value: invocationLink(u), record: `u ${j}` })),
  ];
  const dirs = [...new Set(req.paths.map((p) => p.slice(0, p.lastIndexOf('/')) || '/'))];
  const enablement = req.units.length > 0;
  const lines = [
    'LC_ALL=C; export LC_ALL; set -f',
    // The process group sshd made for this channel (session.c: setsid) goes when the channel does.
    "trap 'trap - EXIT HUP TERM INT; kill 0 2>/dev/null' EXIT HUP TERM INT",
    // A lease: no heartbeat for leaseS, and the whole group ends.
    `arm() { [ -z "$wd" ] || kill "$wd" 2>/dev/null; ( trap 'kill $! 2>/dev/null; exit 0' TERM; sleep ${req.leaseS} & wait $!; kill -TERM 0 ) & wd=$!; }`,
    `wd=; first=1; e=; nl='\n'; F='${SIGNATURE}'`,
    ...targets.map((t) => `${t.v}=${quoteArg(t.value)}; x_${t.v}=; s_${t.v}=`),
    gatherFunction(targets, enablement),
    ...inotifyRung(req, targets, dirs, enablement),
    ...pollRung(req, targets),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * `gather`: one `stat` of every target that exists; reports each whose signature changed (every one while
 * `first`), and `e` when an enablement directory changed. Its lines come in argument order; a path that vanished
 * in between shifts them, and every later one then reads as changed, which only costs a pass.
 */
function gatherFunction(targets: Target[], enablement: boolean): string {
  const body = [
    ...targets.map((t) => `if [ -e "$${t.v}" ] || [ -h "$${t.v}" ]; then x_${t.v}=1; else x_${t.v}=0; fi`),
    'set --',
    ...targets.map((t) => `[ "$x_${t.v}" = 0 ] || set -- "$@" "$${t.v}"`),
    'o=$(stat -c "$F" -- "$@" 2>/dev/null)$nl',
    ...targets.map(
      (t) =>
        `if [ "$x_${t.v}" = 1 ]; then l=\${o%%"$nl"*}; o=\${o#*"$nl"}; else l=-; fi; [ -z "$first" ] && [ "$l" = "$s_${t.v}" ] || echo "${t.record} $l"; s_${t.v}=$l`,
    ),
  ];
  if (enablement)
    body.push(
      `set +f; set -- ${ENABLEMENT_GLOBS}; set -f`,
      'l=$(stat -c %n:%.9Y:%.9Z -- "$@" 2>/dev/null)',
      '[ -n "$first" ] || [ "$l" = "$e" ] || echo e; e=$l',
    );
  return `gather() {\n${body.join('\n')}\n}`;
}

/** Rung 1: inotifywait on the parent directories, the invocation links' directory and the enablement dirs. */
function inotifyRung(req: WatchRequest, targets: Target[], dirs: string[], enablement: boolean): string[] {
  const cases = [
    ...targets.map(
      (t) =>
        `"$${t.v} "*) s=$(stat -c "$F" -- "$${t.v}" 2>/dev/null) || s=-; [ "$s" = "$s_${t.v}" ] || { echo "${t.record} $s"; s_${t.v}=$s; };;`,
    ),
    // A watched directory deleted, moved or unmounted: its new incarnation is not watched; start again.
    `*/' DELETE_SELF'*|*/' MOVE_SELF'*|*' UNMOUNT'*) echo 'lost dir';;`,
    "*Q_OVERFLOW*) echo 'lost overflow';;",
    "'Watches established.') gather; first=; echo 'ready inotify';;",
    "'Setting up watches.'*) ;;",
    "Couldn*|Failed*) echo 'lost setup';;",
    ...(enablement ? ['/etc/systemd/system/*.wants/*|/etc/systemd/system/*.requires/*) echo e;;'] : []),
  ];
  const watched = [
    'set --',
    ...dirs.map((d) => `[ ! -d ${quoteArg(d)} ] || set -- "$@" ${quoteArg(d)}`),
    ...(req.units.length ? [`set -- "$@" ${INVOCATION_DIR}`] : []),
    ...(enablement
      ? [`set +f; for d in ${ENABLEMENT_GLOBS}; do [ ! -d "$d" ] || set -- "$@" "$d"; done; set -f`]
      : []),
  ];
  if (req.mechanism === 'poll') return [];
  const usable = `[ -n "$(command -v inotifywait)" ]${req.units.length ? ` && [ -d ${INVOCATION_DIR} ]` : ''}`;
  return [
    `if ${usable}; then`,
    ...watched,
    'if [ "$#" -gt 0 ]; then',
    `{ inotifywait -m -e ${EVENTS} --format '%w%f %e' -- "$@" 2>&1 </dev/null |`,
    `while IFS= read -r l; do case $l in\n${cases.join('\n')}\nesac; done; echo end; } &`,
    'arm; while IFS= read -r hb; do arm; done; exit 0',
    'fi',
    'fi',
  ];
}

/** Rung 2: the daemon's heartbeat is the tick; builtins every tick, one `stat` every `statEvery` ticks. */
function pollRung(req: WatchRequest, targets: Target[]): string[] {
  // A target that appeared or vanished since the last tick: one stat of it now (a fork only on a change).
  const exists = targets.map(
    (t) =>
      `if [ -e "$${t.v}" ] || [ -h "$${t.v}" ]; then n=1; else n=0; fi; [ "$n" = "$x_${t.v}" ] || { x_${t.v}=$n; s=$(stat -c "$F" -- "$${t.v}" 2>/dev/null) || s=-; [ "$s" = "$s_${t.v}" ] || { echo "${t.record} $s"; s_${t.v}=$s; }; }`,
  );
  return [
    `tick() {\n${exists.join('\n')}\nk=$((k + 1)); [ $((k % ${req.statEvery})) -ne 0 ] || gather; }`,
    'k=0; gather; first=; echo ready poll; arm',
    `while IFS= read -r hb; do [ $((k % ${req.renewEvery})) -ne 0 ] || arm; tick; done`,
  ];
}

const SIG = '(?:\\d+:\\d+:\\d+:\\d+\\.\\d{9}:\\d+\\.\\d{9}|-)';
const LINE = new RegExp(
  `^(?:ready (inotify|poll)|([fu]) (\\d{1,6}) (${SIG})|(e)|lost ([a-z ]{1,40})|(end))$`,
);

/** One line of watch output (pure); anything else is a ProtocolError naming the host. */
export function parseWatchLine(
  host: string,
  req: Pick<WatchRequest, 'paths' | 'units'>,
  line: string,
): WatchRecord {
  const m = LINE.exec(line);
  if (m?.[1]) return { type: 'ready', mechanism: m[1] as WatchMechanism };
  if (m?.[5]) return { type: 'enablement' };
  if (m?.[6]) return { type: 'lost', why: m[6] };
  if (m?.[7]) return { type: 'end' };
  if (m?.[2]) {
    const index = Number(m[3]);
    const file = m[2] === 'f';
    if (index < (file ? req.paths.length : req.units.length))
      return { type: file ? 'file' : 'unit', index, signature: m[4]! };
  }
  throw new ProtocolError(`host ${host}: unexpected watch output ${JSON.stringify(line.slice(0, 120))}`, {
    host,
  });
}
