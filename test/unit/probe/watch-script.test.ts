import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type WatchRequest, buildWatchScript, parseWatchLine } from '../../../src/probe/watch-script.js';
import { tempDir } from '../../support/temp.js';

// The watch script run by the real sh (and the real inotifywait, which `npm test` installs) on the real
// filesystem: what it reports, and that it leaves nothing behind.

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
    if (i > 6000) throw new Error('condition not reached');
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

/** The probe's signature of a path, by the same stat(1) format (`-` when missing). */
function sig(path: string): string {
  const r = spawnSync('stat', ['-c', '%d:%i:%s:%.9Y:%.9Z', '--', path], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '-';
}

const req = (paths: string[], mechanism: WatchRequest['mechanism'], statEvery = 3): WatchRequest => ({
  paths,
  units: [],
  mechanism,
  statEvery,
  renewEvery: 30,
  leaseS: 60,
});

describe('poll watch (real sh)', () => {
  it('reports every signature once, then a deletion at the next tick and a mode change at the next stat', async () => {
    const dir = tempDir('hostop-watch-');
    const a = join(dir, 'a.conf');
    const b = join(dir, 'b.conf');
    const gone = join(dir, 'never.conf');
    writeFileSync(a, 'a\n');
    writeFileSync(b, 'b\n');
    const r = req([a, b, gone], 'poll');
    const w = start(r);
    await until(() => w.lines.includes('ready poll'));
    expect(w.lines).toEqual([`f 0 ${sig(a)}`, `f 1 ${sig(b)}`, 'f 2 -', 'ready poll']);
    w.lines.length = 0;
    rmSync(b);
    chmodSync(a, 0o600);
    w.child.stdin.write('t\n');
    await until(() => w.lines.includes('f 1 -'));
    // The deletion is seen at the first tick; the mode change waits for the tick that stats (the 3rd).
    expect(w.lines).toEqual(['f 1 -']);
    w.child.stdin.write('t\nt\n');
    await until(() => w.lines.length === 2);
    expect(w.lines).toEqual(['f 1 -', `f 0 ${sig(a)}`]);
    expect(w.lines.map((l) => parseWatchLine('h', r, l))).toEqual([
      { type: 'file', index: 1, signature: '-' },
      { type: 'file', index: 0, signature: sig(a) },
    ]);
    w.child.stdin.end();
    await w.exited;
    await until(() => groupGone(w.child.pid!));
  });

  it('ends with its whole process group when the heartbeat stops (a half-open connection)', async () => {
    const dir = tempDir('hostop-watch-');
    const w = start({ ...req([join(dir, 'a')], 'poll', 1), leaseS: 1 });
    await until(() => w.lines.includes('ready poll'));
    await w.exited;
    await until(() => groupGone(w.child.pid!));
  });
});

describe('inotify watch (real inotifywait)', () => {
  it('reports content, replacement, mode and deletion of a managed file, and nothing for its neighbours', async () => {
    const dir = tempDir('hostop-watch-');
    const a = join(dir, 'a.conf');
    writeFileSync(a, 'a\n');
    const w = start(req([a], 'auto'));
    await until(() => w.lines.includes('ready inotify'));
    expect(w.lines).toEqual([`f 0 ${sig(a)}`, 'ready inotify']);
    const seen = async (change: () => void) => {
      w.lines.length = 0;
      change();
      const want = `f 0 ${sig(a)}`;
      await until(() => w.lines.includes(want));
    };
    // Neighbours (hostop's own candidate, an editor's swap file) say nothing; the edit after them does.
    writeFileSync(join(dir, '.a.conf.hostop-new'), 'x');
    writeFileSync(join(dir, 'other'), 'x');
    await seen(() => writeFileSync(a, 'edited\n'));
    expect(w.lines).toEqual([`f 0 ${sig(a)}`]);
    await seen(() => chmodSync(a, 0o600));
    await seen(() => {
      writeFileSync(join(dir, 'tmp'), 'replaced\n');
      renameSync(join(dir, 'tmp'), a);
    });
    await seen(() => rmSync(a));
    expect(w.lines).toEqual(['f 0 -']);
    w.child.stdin.end();
    await w.exited;
    await until(() => groupGone(w.child.pid!));
  });

  it('says "lost dir" when the watched directory goes, and "end" when inotifywait does', async () => {
    const dir = tempDir('hostop-watch-');
    const sub = join(dir, 'etc');
    mkdirSync(sub);
    const w = start(req([join(sub, 'x.conf')], 'auto'));
    await until(() => w.lines.includes('ready inotify'));
    rmSync(sub, { recursive: true });
    await until(() => w.lines.includes('lost dir'));
    expect(w.lines.map((l) => parseWatchLine('h', { paths: ['x'], units: [] }, l).type)).toContain('lost');
    w.child.stdin.end();
    await w.exited;
    await until(() => groupGone(w.child.pid!));
  });

  it('falls back to polling when no parent directory exists yet', async () => {
    const dir = tempDir('hostop-watch-');
    const w = start(req([join(dir, 'not-yet', 'x.conf')], 'auto'));
    await until(() => w.lines.includes('ready poll'));
    expect(w.lines).toEqual(['f 0 -', 'ready poll']);
    w.child.stdin.end();
    await w.exited;
  });

  it('a file name with a newline cannot forge a record (names cannot hold "/"; records carry no name)', async () => {
    const dir = tempDir('hostop-watch-');
    const a = join(dir, 'a.conf');
    writeFileSync(a, 'a\n');
    const w = start(req([a], 'auto'));
    await until(() => w.lines.includes('ready inotify'));
    w.lines.length = 0;
    writeFileSync(join(dir, 'a.conf CLOSE_WRITE\nf 0 1:1:1:1.000000000:1.000000000'), 'x');
    // Events come in order: a record forged by the name would come before the one of this edit.
    writeFileSync(a, 'edited\n');
    await until(() => w.lines.length > 0);
    expect(w.lines).toEqual([`f 0 ${sig(a)}`]);
    w.child.stdin.end();
    await w.exited;
  });
});

describe('watch records', () => {
  it('refuses what is not a record of this request', () => {
    const r = { paths: ['/a'], units: [] };
    expect(() => parseWatchLine('h', r, 'f 1 -')).toThrow(/host h: unexpected watch output "f 1 -"/);
    expect(() => parseWatchLine('h', r, 'u 0 -')).toThrow(/unexpected watch output/);
    expect(() => parseWatchLine('h', r, 'f 0')).toThrow(/unexpected watch output/);
    expect(() => parseWatchLine('h', r, 'f 0 1:2:3:4.5:6.7')).toThrow(/unexpected watch output/);
    expect(() => parseWatchLine('h', r, '/etc/passwd CLOSE_WRITE')).toThrow(/unexpected watch output/);
    expect(parseWatchLine('h', r, 'lost overflow')).toEqual({ type: 'lost', why: 'overflow' });
    expect(parseWatchLine('h', r, 'e')).toEqual({ type: 'enablement' });
    expect(parseWatchLine('h', r, 'end')).toEqual({ type: 'end' });
  });

  it('refuses relative paths and unit names that are not systemd names', () => {
    expect(() => buildWatchScript(req(['etc/x'], 'auto'))).toThrow(/must be absolute/);
    expect(() => buildWatchScript({ ...req(['/x'], 'auto'), units: ['a;b'] })).toThrow(/not a systemd unit/);
  });
});
