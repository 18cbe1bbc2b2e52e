import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type WatchRequest, buildWatchScript, parseWatchLine } from '../../../src/probe/watch-script.js';
import { tempDir } from '../../support/temp.js';

// The poll watch run by the real sh on the real filesystem: what it reports, and that it leaves nothing behind.

/** The watch as sshd would run it: its own process group (session.c setsid), lines read as they come. */
function start(req: WatchRequest) {
  const child = spawn('sh', ['-c', buildWatchScript(req)], {
    detached: true,
  }) as ChildProcessWithoutNullStreams;
  const lines: string[] = [];
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return { child, lines, exited };
}

async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; !ok(); i++) {
    if (i > 2000) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function groupGone(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return false;
  } catch {
    return true;
  }
}

describe('poll watch (real sh)', () => {
  it('reports a deletion at the next tick and a mode change at the next stat, by index only', async () => {
    const dir = tempDir('hostop-watch-');
    const a = join(dir, 'a.conf');
    const b = join(dir, 'b.conf');
    writeFileSync(a, 'a\n');
    writeFileSync(b, 'b\n');
    const req: WatchRequest = {
      paths: [a, b],
      units: ['x.service'],
      mechanism: 'poll',
      statEvery: 3,
      leaseS: 60,
    };
    const w = start(req);
    await until(() => w.lines.includes('ready poll'));
    rmSync(b);
    chmodSync(a, 0o600);
    w.child.stdin.write('t\n');
    await until(() => w.lines.includes('f 1'));
    // The deletion is seen at once; the mode change waits for the tick that stats (the 3rd).
    expect(w.lines).toEqual(['ready poll', 'f 1']);
    w.child.stdin.write('t\nt\n');
    await until(() => w.lines.includes('f 0'));
    expect(w.lines).toEqual(['ready poll', 'f 1', 'f 0']);
    expect(w.lines.map((l) => parseWatchLine('h', req, l).type)).toEqual(['ready', 'file', 'file']);
    w.child.stdin.end();
    await w.exited;
    await until(() => groupGone(w.child.pid!));
  });

  it('ends with its whole process group when the heartbeat stops (a half-open connection)', async () => {
    const dir = tempDir('hostop-watch-');
    const w = start({ paths: [join(dir, 'a')], units: [], mechanism: 'poll', statEvery: 1, leaseS: 1 });
    await until(() => w.lines.includes('ready poll'));
    await w.exited;
    await until(() => groupGone(w.child.pid!));
  });

  it('refuses what is not a record of this request', () => {
    const req: WatchRequest = { paths: ['/a'], units: [], mechanism: 'poll', statEvery: 1, leaseS: 60 };
    expect(() => parseWatchLine('h', req, 'f 1')).toThrow(/host h: unexpected watch output "f 1"/);
    expect(() => parseWatchLine('h', req, 'u 0')).toThrow(/unexpected watch output/);
    expect(() => parseWatchLine('h', req, '/etc/passwd CLOSE_WRITE')).toThrow(/unexpected watch output/);
    expect(parseWatchLine('h', req, 'lost overflow')).toEqual({ type: 'lost', why: 'overflow' });
  });
});
