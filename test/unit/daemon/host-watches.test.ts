import { Duplex, PassThrough } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HostRequest } from '../../../src/apply/host-scripts.js';
import type { HostRef } from '../../../src/core/model.js';
import { HostWatches, type WatchState } from '../../../src/daemon/host-watches.js';
import type { ExecutorSource, HostExecutor } from '../../../src/engine/host-executor.js';
import { invocationLink } from '../../../src/probe/watch-script.js';
import { TEST_HOST } from '../../support/intents.js';

// HostWatches against an in-memory channel: the test plays the watch script (it pushes record lines) and reads
// what the daemon wrote (heartbeats). Timers and Date are fake; setImmediate stays real to let streams flow.
const HOST: HostRef = TEST_HOST; // h1
const TARGETS = { paths: ['/etc/a.conf', '/etc/b.conf'], units: ['nginx.service'] };
const sig = (ino: number) => `2049:${ino}:14:1764658800.123456789:1764658800.123456789`;

/** One stream() the watches opened: what it asked, what it was written, and a way to speak as the host. */
interface Opened {
  request: HostRequest;
  stream: Duplex;
  stderr: PassThrough;
  written: string[];
  send(line: string): void;
}

/** Lets pending stream events and promise callbacks run until `ok` holds (real setImmediate, no clock). */
async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; !ok(); i++) {
    if (i > 500) throw new Error('condition not reached');
    await new Promise((r) => setImmediate(r));
  }
}

/** Everything pushed so far has been read by the watch (a pushed chunk is either emitted or counted here). */
const drained = (s: Opened) => until(() => s.stream.readableLength === 0);

const open: HostWatches[] = [];
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});
afterEach(() => {
  for (const w of open.splice(0)) w.closeAll();
  vi.useRealTimers();
});

const unused = (): never => {
  throw new Error('a watch runs no script and opens no forward');
};

function harness(mechanism: 'auto' | 'poll' = 'auto') {
  const sigs = new Map<string, string>([
    ['/etc/a.conf', sig(1)],
    ['/etc/b.conf', sig(2)],
    [invocationLink('nginx.service'), sig(3)],
  ]);
  const h = {
    changes: [] as string[],
    reports: [] as string[],
    states: [] as { host: string; state: WatchState; message?: string }[],
    opened: [] as Opened[],
    connections: 0,
    refuse: undefined as Error | undefined,
  };
  const source: ExecutorSource = {
    async connection(host): Promise<HostExecutor> {
      h.connections++;
      if (h.refuse) throw h.refuse;
      return {
        host,
        run: unused,
        forwardTcp: unused,
        close: () => {},
        stream: async (script) => {
          const written: string[] = [];
          const duplex = new Duplex({
            read() {},
            write(chunk: Buffer, _enc, cb) {
              written.push(chunk.toString());
              cb();
            },
          });
          const stderr = new PassThrough();
          const send = (line: string) => duplex.push(`${line}\n`);
          h.opened.push({ request: script.request, stream: duplex, stderr, written, send });
          return Object.assign(duplex, { stderr });
        },
      };
    },
  };
  const watches = new HostWatches({
    source,
    mechanism,
    tickMs: 20,
    inotifyBeatEvery: 3,
    statEvery: 5,
    leaseS: 90,
    restartBaseMs: 10,
    restartMaxMs: 40,
    log: pino({ level: 'silent' }),
    signatureOf: (_host, path) => sigs.get(path),
    onChange: (host, why) => h.changes.push(`${host}: ${why}`),
    onState: (host, state, message) => h.states.push({ host, state, ...(message && { message }) }),
    onReport: (_host, outcome) => h.reports.push(outcome),
  });
  open.push(watches);
  /** passEnded, then the host answers `ready`: the watch that the test speaks through. */
  const ready = async (mech: 'inotify' | 'poll' = 'inotify', host = HOST, targets = TARGETS) => {
    const n = h.opened.length;
    watches.passEnded(host, targets);
    await until(() => h.opened.length === n + 1);
    const s = h.opened[n]!;
    s.send(`ready ${mech}`);
    await until(() => watches.state(host.name) === mech);
    return s;
  };
  return { h, sigs, watches, ready };
}

describe('HostWatches', () => {
  it('starts a watch of exactly the targets of the pass that ended, with the configured mechanism', async () => {
    const t = harness('poll');
    t.watches.passEnded(HOST, TARGETS);
    expect(t.watches.state('h1')).toBe('starting');
    await until(() => t.h.opened.length === 1);
    expect(t.h.opened[0]!.request).toEqual({
      op: 'watch',
      watch: { ...TARGETS, mechanism: 'poll', statEvery: 5, leaseS: 90, renewEvery: 1500 },
    });
    t.h.opened[0]!.send('ready poll');
    await until(() => t.watches.state('h1') === 'poll');
    expect(t.h.states).toEqual([
      { host: 'h1', state: 'starting' },
      { host: 'h1', state: 'poll' },
    ]);
  });

  it('drops a report equal to what the last probe saw and tells the host of one that differs', async () => {
    const t = harness();
    const s = await t.ready();
    s.send(`f 1 ${sig(2)}`);
    s.send(`u 0 ${sig(3)}`);
    await until(() => t.h.reports.length === 2);
    expect(t.h.reports).toEqual(['unchanged', 'unchanged']);
    expect(t.h.changes).toEqual([]);
    s.send(`f 0 ${sig(9)}`);
    s.send('u 0 -');
    await until(() => t.h.reports.length === 4);
    expect(t.h.reports.slice(2)).toEqual(['changed', 'changed']);
    expect(t.h.changes).toEqual([
      'h1: /etc/a.conf changed',
      `h1: ${invocationLink('nginx.service')} changed`,
    ]);
  });

  it('holds reports during a pass and compares the latest per path with what that pass saw', async () => {
    const t = harness();
    const s = await t.ready();
    t.watches.passStarted('h1');
    for (const line of [`f 0 ${sig(8)}`, `f 0 ${sig(11)}`, `f 1 ${sig(12)}`, `f 1 ${sig(13)}`]) s.send(line);
    await drained(s);
    expect(t.h.reports).toEqual([]);
    expect(t.h.changes).toEqual([]);
    // The pass wrote both files: a.conf's latest report is its own write, b.conf changed again after it.
    t.sigs.set('/etc/a.conf', sig(11));
    t.sigs.set('/etc/b.conf', sig(12));
    t.watches.passEnded(HOST, TARGETS);
    expect(t.h.reports).toEqual(['unchanged', 'changed']);
    expect(t.h.changes).toEqual(['h1: /etc/b.conf changed']);
  });

  it('always tells the host of an enablement change, once a pass running meanwhile has ended', async () => {
    const t = harness();
    const s = await t.ready();
    s.send('e');
    await until(() => t.h.changes.length === 1);
    t.watches.passStarted('h1');
    s.send('e');
    s.send('e');
    await drained(s);
    expect(t.h.changes).toHaveLength(1);
    t.watches.passEnded(HOST, TARGETS);
    expect(t.h.changes).toEqual(Array(2).fill('h1: a unit enablement directory changed'));
  });

  it('a held enablement change still tells the host when the pass ends with other targets', async () => {
    const t = harness();
    const s = await t.ready();
    t.watches.passStarted('h1');
    s.send('e');
    await drained(s);
    t.watches.passEnded(HOST, { paths: ['/etc/a.conf'], units: ['nginx.service'] });
    expect(t.h.changes).toEqual(['h1: a unit enablement directory changed']);
  });

  it('restarts the watch when a pass ends with other targets, and only then', async () => {
    const t = harness();
    const s = await t.ready();
    t.watches.passEnded(HOST, { ...TARGETS });
    expect(t.h.connections).toBe(1);
    expect(s.stream.destroyed).toBe(false);
    const other = { paths: ['/etc/c.conf'], units: [] };
    t.watches.passEnded(HOST, other);
    expect(s.stream.writableEnded && s.stream.destroyed).toBe(true);
    await until(() => t.h.opened.length === 2);
    expect(t.h.opened[1]!.request).toMatchObject({ op: 'watch', watch: other });
    expect(t.watches.state('h1')).toBe('starting');
    expect(t.h.changes).toEqual([]);
  });

  const failures: [string, (s: Opened) => void | Promise<void>, string][] = [
    ['a `lost overflow` line', (s) => s.send('lost overflow'), 'watch lost (overflow)'],
    ['an `end` line', (s) => s.send('end'), 'the watch ended on the host'],
    [
      'an unparseable line',
      (s) => s.send('f 2 -'),
      'ProtocolError: host h1: unexpected watch output "f 2 -"',
    ],
    [
      'the channel closing by itself',
      async (s) => {
        s.stderr.write('inotifywait: killed\n');
        await until(() => s.stderr.readableLength === 0);
        s.stream.destroy();
      },
      'watch channel closed: inotifywait: killed',
    ],
  ];
  it.each(failures)(
    'on %s: state none, the host is told, restart after the back-off',
    async (_, fail, why) => {
      const t = harness();
      const s = await t.ready();
      await fail(s);
      await until(() => t.watches.state('h1') === 'none');
      expect(t.h.states.at(-1)).toEqual({ host: 'h1', state: 'none', message: why });
      expect(t.h.changes).toEqual([`h1: watch stopped: ${why}`]);
      expect(s.stream.destroyed).toBe(true);
      await vi.advanceTimersByTimeAsync(4); // the first back-off: 10 ms less up to half of it
      expect(t.h.connections).toBe(1);
      await vi.advanceTimersByTimeAsync(6);
      await until(() => t.h.opened.length === 2);
      expect(t.watches.state('h1')).toBe('starting');
      t.h.opened[1]!.send('ready inotify');
      await until(() => t.watches.state('h1') === 'inotify');
      expect(t.h.states.slice(-3).map((x) => x.state)).toEqual(['none', 'starting', 'inotify']);
    },
  );

  it('ends a watch that sends a line longer than 200 characters', async () => {
    const t = harness();
    const s = await t.ready();
    s.stream.push('x'.repeat(200));
    await drained(s);
    expect(t.watches.state('h1')).toBe('inotify');
    s.stream.push('x');
    await until(() => t.watches.state('h1') === 'none');
    expect(t.h.states.at(-1)?.message).toBe('a watch line longer than any record');
  });

  it('ends a watch that sends more than 2000 lines within one second', async () => {
    const t = harness();
    const s = await t.ready();
    await vi.advanceTimersByTimeAsync(1000); // a second of its own, without the `ready` line
    s.stream.push(`f 0 ${sig(1)}\n`.repeat(2000));
    await until(() => t.h.reports.length === 2000);
    expect(t.watches.state('h1')).toBe('inotify');
    s.send(`f 0 ${sig(1)}`);
    await until(() => t.watches.state('h1') === 'none');
    expect(t.h.states.at(-1)?.message).toBe('more output than a watch sends');
    expect(t.h.reports).toHaveLength(2000);
  });

  it('writes a poll watch a heartbeat every tick and an inotify watch every inotifyBeatEvery ticks', async () => {
    const t = harness();
    const poll = await t.ready('poll');
    const inotify = await t.ready('inotify', { ...HOST, name: 'h2' });
    const [p0, i0] = [poll.written.length, inotify.written.length];
    await vi.advanceTimersByTimeAsync(6 * 20);
    expect(poll.written.slice(p0)).toEqual(Array(6).fill('\n'));
    expect(inotify.written.slice(i0)).toEqual(Array(2).fill('\n'));
  });

  it('forget ends the stream and the host is never watched again, even with a restart pending', async () => {
    const t = harness();
    const s = await t.ready();
    t.watches.forget('h1');
    expect(s.stream.writableEnded && s.stream.destroyed).toBe(true);
    expect(t.watches.state('h1')).toBe('none');
    const s2 = await t.ready();
    s2.send('end'); // a restart is now pending
    await until(() => t.watches.state('h1') === 'none');
    t.watches.forget('h1');
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.h.connections).toBe(2);
    expect(t.h.changes).toEqual(['h1: watch stopped: the watch ended on the host']);
  });

  it('closeAll ends every stream, cancels pending restarts and starts no watch afterwards', async () => {
    const t = harness();
    const s1 = await t.ready('inotify');
    const s2 = await t.ready('poll', { ...HOST, name: 'h2' });
    s2.send('end');
    await until(() => t.watches.state('h2') === 'none');
    t.watches.closeAll();
    expect(s1.stream.writableEnded && s1.stream.destroyed).toBe(true);
    t.watches.passEnded(HOST, TARGETS);
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.h.connections).toBe(2);
    expect(t.watches.state('h1')).toBe('none');
  });

  it('retries after the back-off when the connection cannot be had, saying why', async () => {
    const t = harness();
    t.h.refuse = new Error('connect ECONNREFUSED 192.0.2.1:22');
    t.watches.passEnded(HOST, TARGETS);
    await until(() => t.watches.state('h1') === 'none');
    expect(t.h.states.at(-1)).toEqual({
      host: 'h1',
      state: 'none',
      message: 'connect ECONNREFUSED 192.0.2.1:22',
    });
    expect(t.h.changes).toEqual(['h1: watch stopped: connect ECONNREFUSED 192.0.2.1:22']);
    t.h.refuse = undefined;
    await vi.advanceTimersByTimeAsync(4);
    expect(t.h.connections).toBe(1);
    await vi.advanceTimersByTimeAsync(6);
    await until(() => t.h.opened.length === 1);
    expect(t.watches.state('h1')).toBe('starting');
  });
});
