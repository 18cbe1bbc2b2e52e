import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type StatusSnapshot, parseStatusDocument } from '../daemon/status-document.js';
import { STATUS_FILE } from '../daemon/status-file.js';
import { type CommandSpec, outputFormat } from './args.js';
import { printable } from './printable.js';

/** `hostop status`: what the daemon knows, from its HTTP endpoint or (offline) from its state directory. */
export const statusCommand: CommandSpec = {
  name: 'status',
  summary:
    'Shows the daemon status: per host and resource the Ready/Drifted/Stalled conditions, and recent events.',
  usage: 'hostop status [--url URL | --state-dir DIR] [--output text|json]',
  options: {
    url: { type: 'string' },
    'state-dir': { type: 'string' },
    'http-token-file': { type: 'string' },
    events: { type: 'string' },
    output: { type: 'string', short: 'o' },
  },
  help: [
    '--url URL             the daemon (default http://127.0.0.1:9464)',
    '--http-token-file F   bearer token for a daemon started with --http-token-file',
    '--state-dir DIR       read status.json from the state directory instead (daemon not running)',
    '--events N            how many recent events to show (default 10)',
    '-o, --output FMT      text (default) or json',
  ],
  async run(values) {
    const format = outputFormat(values.output);
    const snap = values['state-dir'] ? fromFile(String(values['state-dir'])) : await fromHttp(values);
    if (format === 'json') {
      process.stdout.write(`${JSON.stringify(snap, null, 2)}\n`);
      return 0;
    }
    process.stdout.write(formatStatus(snap, Number(values.events ?? 10)));
    const notReady = snap.resources.some(
      (r) => r.conditions.find((c) => c.type === 'Ready')?.status !== 'True',
    );
    return notReady || snap.hosts.some((h) => !h.reachable) || !snap.desiredState.valid ? 3 : 0;
  },
};

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

async function fromHttp(values: Record<string, unknown>): Promise<StatusSnapshot> {
  const url = new URL('/status', String(values.url ?? 'http://127.0.0.1:9464'));
  const headers: Record<string, string> = {};
  if (values['http-token-file'])
    headers.authorization = `Bearer ${readFileSync(String(values['http-token-file']), 'utf8').trim()}`;
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
    '',
  ];
  const rows = [['HOST', 'KIND', 'NAME', 'READY', 'DRIFTED', 'REASON', 'SINCE', 'MESSAGE']];
  for (const r of s.resources) {
    const ready = r.conditions.find((c) => c.type === 'Ready');
    const drifted = r.conditions.find((c) => c.type === 'Drifted');
    rows.push([
      r.host,
      r.kind,
      r.name,
      ready?.status ?? '-',
      drifted?.status ?? '-',
      ready?.reason ?? '-',
      ready?.lastTransitionTime ?? '-',
      (ready?.message ?? '').slice(0, 80),
    ]);
  }
  lines.push(...table(rows), '');
  const down = s.hosts.filter((h) => !h.reachable);
  lines.push(`Hosts: ${s.hosts.length - down.length}/${s.hosts.length} reachable`);
  for (const h of down)
    lines.push(`  ${h.host}: ${h.lastError ? `${h.lastError.code}: ${h.lastError.message}` : 'unreachable'}`);
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

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}
