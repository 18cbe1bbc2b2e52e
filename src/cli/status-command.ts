import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { type StatusSnapshot, parseStatusDocument } from '../daemon/status-document.js';
import { STATUS_FILE } from '../daemon/status-file.js';
import { exits, outputOption } from './args.js';
import { printable } from './printable.js';

interface StatusOptions {
  url: string;
  stateDir?: string;
  httpTokenFile?: string;
  events: number;
  output: 'text' | 'json';
}

/** `hostop status`: what the daemon knows, from its HTTP endpoint or (offline) from its state directory. */
export const statusCommand = new Command('status')
  .description(
    'Shows the daemon status: per host and resource the Ready/Drifted/Stalled conditions, and recent events.',
  )
  .usage('[--url URL | --state-dir DIR] [options]')
  .option('--url <URL>', 'the daemon', 'http://127.0.0.1:9464')
  .option('--http-token-file <F>', 'bearer token for a daemon started with --http-token-file')
  .option('--state-dir <DIR>', 'read status.json from the state directory instead (daemon not running)')
  .option('--events <N>', 'how many recent events to show', Number, 10)
  .addOption(outputOption())
  .action(
    exits(async (opts: StatusOptions) => {
      const snap = opts.stateDir ? fromFile(opts.stateDir) : await fromHttp(opts);
      if (opts.output === 'json') {
        process.stdout.write(`${JSON.stringify(snap, null, 2)}\n`);
        return 0;
      }
      process.stdout.write(formatStatus(snap, opts.events));
      const notReady = snap.resources.some(
        (r) => r.conditions.find((c) => c.type === 'Ready')?.status !== 'True',
      );
      return notReady || snap.hosts.some((h) => !h.reachable) || !snap.desiredState.valid ? 3 : 0;
    }),
  );

function fromFile(dir: string): StatusSnapshot {
  let text: string;
  try {
    text = readFileSync(join(dir, STATUS_FILE), 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${join(dir, STATUS_FILE)}: ${(e as Error).message}`);
  }
  const doc = parseStatusDocument(text);
  if (typeof doc === 'string') throw new Error(`${join(dir, STATUS_FILE)} is not a status document: ${doc}`);
  return doc;
}

async function fromHttp(opts: StatusOptions): Promise<StatusSnapshot> {
  const url = new URL('/status', opts.url);
  const headers: Record<string, string> = {};
  if (opts.httpTokenFile) headers.authorization = `Bearer ${readFileSync(opts.httpTokenFile, 'utf8').trim()}`;
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    throw new Error(
      `cannot reach the daemon at ${url.origin} (${(e as Error).message}); is 'hostop run' running? Use --state-dir to read its saved status.`,
    );
  }
  if (!res.ok)
    throw new Error(`${url} answered ${res.status}${res.status === 401 ? ' (pass --http-token-file)' : ''}`);
  const doc = parseStatusDocument(await res.text());
  if (typeof doc === 'string') throw new Error(`${url} did not return a status document: ${doc}`);
  return doc;
}

export function formatStatus(s: StatusSnapshot, events: number): string {
  const ds = s.desiredState;
  const lines = [
    `Desired state: ${ds.valid ? 'valid' : 'INVALID'}  revision ${ds.revision ?? 'unknown'}${ds.lastError ? `  last error: ${ds.lastError}` : ''}`,
    ...coordinationLines(s),
    '',
  ];
  const owners = new Map(s.hosts.map((h) => [h.host, h.owner ?? '-']));
  const withOwner = (row: string[], owner: string) =>
    s.coordination ? [row[0]!, owner, ...row.slice(1)] : row;
  const rows = [
    withOwner(['HOST', 'KIND', 'NAME', 'READY', 'DRIFTED', 'REASON', 'SINCE', 'MESSAGE'], 'OWNER'),
  ];
  for (const r of s.resources) {
    const ready = r.conditions.find((c) => c.type === 'Ready');
    const drifted = r.conditions.find((c) => c.type === 'Drifted');
    rows.push(
      withOwner(
        [
          r.host,
          r.kind,
          r.name,
          ready?.status ?? '-',
          drifted?.status ?? '-',
          ready?.reason ?? '-',
          ready?.lastTransitionTime ?? '-',
          (ready?.message ?? '').slice(0, 80),
        ],
        owners.get(r.host) ?? '-',
      ),
    );
  }
  lines.push(...table(rows), '');
  const down = s.hosts.filter((h) => !h.reachable);
  lines.push(`Hosts: ${s.hosts.length - down.length}/${s.hosts.length} reachable`);
  for (const h of down)
    lines.push(`  ${h.host}: ${h.lastError ? `${h.lastError.code}: ${h.lastError.message}` : 'unreachable'}`);
  lines.push(...watchLines(s.hosts));
  if (events > 0 && s.events.length > 0) {
    lines.push('', 'Recent events:');
    for (const e of s.events.slice(-events)) {
      const obj = [e.host, e.kind && `${e.kind}/${e.name}`].filter(Boolean).join(' ');
      lines.push(
        `  ${e.time}  ${e.type.padEnd(7)} ${e.reason.padEnd(19)} ${obj}${e.count > 1 ? ` (x${e.count})` : ''}: ${e.message}`,
      );
    }
  }
  // Messages and names come from hosts (validator output, inventories): nothing reaches the terminal raw.
  return printable(`${lines.join('\n')}\n`);
}

/** Several daemons on etcd: who shares the fleet, and whether this one enforces. */
function coordinationLines(s: StatusSnapshot): string[] {
  const c = s.coordination;
  if (!c) return [];
  return [
    `Fleet: shared by ${c.members.length} daemons (${c.members.join(', ')}); this is ${c.member}: etcd ${c.etcd}, ` +
      `${c.enforcing ? 'enforcing' : `NOT enforcing (${c.reason ?? 'no lease'}), detecting only`}, owns ${c.owned} host(s)`,
    ...(c.unowned.length ? [`Owned by no daemon right now: ${c.unowned.join(', ')}`] : []),
  ];
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}

/** How drift is seen per host: `Watches: inotify 60, poll 2, none 1`, then each unwatched host and why. */
function watchLines(hosts: StatusSnapshot['hosts']): string[] {
  const counts = new Map<string, number>();
  for (const h of hosts)
    counts.set(h.watch?.state ?? 'none', (counts.get(h.watch?.state ?? 'none') ?? 0) + 1);
  const order = ['inotify', 'poll', 'starting', 'none'];
  const summary = [...counts]
    .sort(([a], [b]) => order.indexOf(a) - order.indexOf(b))
    .map(([k, n]) => `${k} ${n}`);
  const unwatched = hosts.filter((h) => (h.watch?.state ?? 'none') === 'none');
  return [
    `Watches: ${summary.join(', ')}${unwatched.length ? ' (none: only the resync finds drift there)' : ''}`,
    ...unwatched.map((h) => `  ${h.host}: ${h.watch?.message ?? 'no watch yet'}`),
  ];
}
