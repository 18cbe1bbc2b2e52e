import { DesiredStateError, ProtocolError } from '../core/errors.js';
import { quoteArg } from '../ssh/quote.js';

/**
 * A host watch (issue 14; design and sources: docs/design/host-watches.md). It runs on its own exec channel and
 * only ever says that something hostop manages may have changed; the pass that follows decides. It reports
 * indexes, never names (a name a user chose cannot forge a record), and leaves nothing on the host: it dies with
 * its channel (stdin EOF → the EXIT trap kills its process group; a write to a closed channel → SIGPIPE) and,
 * should the TCP connection die silently, when the daemon's heartbeat stops for `leaseS`.
 */
export interface WatchRequest {
  /** Managed paths: `f I` when path I may have changed. */
  paths: string[];
  /** Units: `u J` when unit J started, stopped or restarted (its invocation symlink changed). */
  units: string[];
  /** `poll`: the daemon's heartbeat is the tick; each tick tests existence with shell builtins only (no process). */
  mechanism: 'poll';
  /** Poll: one `stat` of every path and invocation link every this many ticks. */
  statEvery: number;
  /** No heartbeat for this long: the watch ends itself (a half-open connection). */
  leaseS: number;
}

export type WatchRecord =
  | { type: 'ready'; mechanism: string }
  | { type: 'file'; index: number }
  | { type: 'unit'; index: number }
  | { type: 'lost'; why: string };

/** systemd keeps this symlink exactly while a unit has a live invocation (unit.c, unit_export_invocation_id). */
export const INVOCATION_DIR = '/run/systemd/units';
const SYSTEMD_UNIT = /^[A-Za-z0-9:_.\\@-]+$/;
/** What one stat line holds per path: a change of any part (content, replacement, mode, owner) changes it. */
const STAT_FORMAT = '%d:%i:%s:%.9Y:%.9Z:%f:%u:%g';

/**
 * The watch script for a poll watch (pure). Per heartbeat line on stdin: builtin existence tests of every path
 * and invocation link (a deletion, a unit stopped or started: seen at once); every `statEvery` ticks, one
 * `stat` of all that exist (content, mode, owner, a restart: seen within that many ticks). Prints `ready poll`,
 * then `f I` / `u J` per change. Throws DesiredStateError for a relative path or a bad unit name.
 */
export function buildWatchScript(req: WatchRequest): string {
  for (const p of req.paths)
    if (!p.startsWith('/')) throw new DesiredStateError(`watch path must be absolute: ${JSON.stringify(p)}`);
  for (const u of req.units)
    if (!SYSTEMD_UNIT.test(u) || u.startsWith('-'))
      throw new DesiredStateError(`not a systemd unit name: ${JSON.stringify(u)}`);
  const targets = [
    ...req.paths.map((p, i) => ({ v: `p${i}`, value: p, record: `f ${i}` })),
    ...req.units.map((u, j) => ({
      v: `u${j}`,
      value: `${INVOCATION_DIR}/invocation:${u}`,
      record: `u ${j}`,
    })),
  ];
  const lines = [
    'LC_ALL=C; export LC_ALL; set -f',
    // The process group sshd made for this channel (session.c: setsid) goes when the channel does.
    "trap 'trap - EXIT HUP TERM INT; kill 0 2>/dev/null' EXIT HUP TERM INT",
    // A lease: no heartbeat for leaseS, and the whole group ends.
    `arm() { [ -z "$wd" ] || kill "$wd" 2>/dev/null; ( trap 'kill $! 2>/dev/null; exit 0' TERM; sleep ${req.leaseS} & wait $!; kill -TERM 0 ) & wd=$!; }`,
    "wd=; nl='\n'",
    ...targets.map((t) => `${t.v}=${quoteArg(t.value)}; x_${t.v}=; s_${t.v}=`),
  ];
  // Existence, builtins only: `-h` too, as a dangling symlink fails `-e` but is there.
  const exists = targets.map(
    (t) =>
      `if [ -e "$${t.v}" ] || [ -h "$${t.v}" ]; then n=1; else n=0; fi; [ "$n" = "$x_${t.v}" ] || { [ -n "$first" ] || echo '${t.record}'; x_${t.v}=$n; }`,
  );
  // One stat of what exists; its lines in the same order as the arguments (a path that vanished in between
  // shifts them: every later one then reads as changed, which only costs a pass).
  const gather = [
    'set --',
    ...targets.map((t) => `[ "$x_${t.v}" = 0 ] || set -- "$@" "$${t.v}"`),
    `o=$(stat -c '${STAT_FORMAT}' -- "$@" 2>/dev/null)$nl`,
    ...targets.map(
      (t) =>
        `if [ "$x_${t.v}" = 1 ]; then l=\${o%%"$nl"*}; o=\${o#*"$nl"}; [ "$l" = "$s_${t.v}" ] || { [ -n "$first" ] || echo '${t.record}'; s_${t.v}=$l; }; fi`,
    ),
  ];
  lines.push(
    `tick() {\n${exists.join('\n')}\nif [ $((k % ${req.statEvery})) -eq 0 ]; then\n${gather.join('\n')}\nfi\nk=$((k + 1)); }`,
    // The first tick only records the state the watch starts from.
    'k=0; first=1; tick; first=; echo ready poll; arm',
    'while IFS= read -r hb; do arm; tick; done',
  );
  return `${lines.join('\n')}\n`;
}

/** One line of watch output (pure); anything else is a ProtocolError naming the host. */
export function parseWatchLine(host: string, req: WatchRequest, line: string): WatchRecord {
  const m = /^(?:(ready) (\w+)|([fu]) (\d{1,6})|(lost) ([\w ]{1,40}))$/.exec(line);
  if (m?.[1]) return { type: 'ready', mechanism: m[2]! };
  if (m?.[5]) return { type: 'lost', why: m[6]! };
  if (m?.[3]) {
    const index = Number(m[4]);
    const count = m[3] === 'f' ? req.paths.length : req.units.length;
    if (index < count) return { type: m[3] === 'f' ? 'file' : 'unit', index };
  }
  throw new ProtocolError(`host ${host}: unexpected watch output ${JSON.stringify(line.slice(0, 120))}`, {
    host,
  });
}
