import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type StatusPersistence, StatusStore } from '../../../src/daemon/status-store.js';

/** In-memory stand-in for the file: records every write, can be told to fail. */
function memoryPersistence(initial?: string) {
  const state = { stored: initial, writes: [] as string[], failNext: 0, quarantined: [] as string[] };
  const persistence: StatusPersistence = {
    read: async () => state.stored,
    write: async (text) => {
      if (state.failNext > 0) {
        state.failNext--;
        throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      }
      state.writes.push(text);
      state.stored = text;
    },
    quarantine: async () => {
      state.quarantined.push(state.stored ?? '');
      state.stored = undefined;
      return '/state/status.json.corrupt-x';
    },
  };
  return { state, persistence };
}

const web01Motd = { host: 'web01', kind: 'File', name: 'motd' };
const drifted = {
  type: 'Drifted',
  status: 'True',
  reason: 'DriftDetected',
  message: 'content differs',
} as const;

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2025-03-01T10:00:00.000Z'));
});
afterEach(() => {
  vi.useRealTimers();
});

describe('StatusStore records', () => {
  it('moves a condition transition time only when its status changes', () => {
    const store = new StatusStore();
    store.setCondition(web01Motd, drifted);
    vi.advanceTimersByTime(60_000);
    store.setCondition(web01Motd, { ...drifted, message: 'content and mode differ' });
    expect(store.conditionsOf(web01Motd)[0]).toMatchObject({
      message: 'content and mode differ',
      lastTransitionTime: '2025-03-01T10:00:00.000Z',
    });
    vi.advanceTimersByTime(60_000);
    store.setCondition(web01Motd, { ...drifted, status: 'False', reason: 'DriftCorrected' });
    expect(store.conditionsOf(web01Motd)[0]?.lastTransitionTime).toBe('2025-03-01T10:02:00.000Z');
    expect(store.conditionsOf({ host: 'web01', kind: 'File', name: 'other' })).toEqual([]);
  });

  it('redacts every message with the known secrets and credential patterns, and bounds its length', () => {
    const store = new StatusStore();
    store.setKnownSecrets(['Ds-Pass-42']);
    store.setCondition(web01Motd, { ...drifted, message: 'validator: password Ds-Pass-42 rejected' });
    store.recordHostProbe('web01', {
      reachable: false,
      error: { code: 'AuthFailed', message: 'Authorization: Bearer tok-9 refused' },
    });
    store.recordEvent({
      type: 'Warning',
      reason: 'ApplyFailed',
      message: 'token=abc Ds-Pass-42',
      host: 'web01',
    });
    store.recordDesiredStateInvalid('datasources.yaml: Ds-Pass-42 is not a url');
    store.setCondition({ ...web01Motd, name: 'big' }, { ...drifted, message: 'x'.repeat(5_000) });
    const text = JSON.stringify(store.snapshot());
    for (const leak of ['Ds-Pass-42', 'tok-9', 'abc']) expect(text).not.toContain(leak);
    const big = store.snapshot().resources.find((r) => r.name === 'big');
    expect(big?.conditions[0]?.message).toHaveLength(1024);
  });

  it('keeps one record per host with the last probe outcome', () => {
    const store = new StatusStore();
    store.recordHostProbe('web01', {
      reachable: false,
      error: { code: 'Timeout', message: 'connect timed out' },
    });
    vi.advanceTimersByTime(5_000);
    store.recordHostProbe('web01', { reachable: true });
    expect(store.snapshot().hosts).toEqual([
      { host: 'web01', reachable: true, lastProbeTime: '2025-03-01T10:00:05.000Z' },
    ]);
  });

  it("keeps a host's watch state across probes, with why it stopped (masked), and persists it", async () => {
    const { state, persistence } = memoryPersistence();
    const store = new StatusStore({ persistence });
    store.setKnownSecrets(['s3cret-token']);
    store.recordWatch('web01', { state: 'inotify' }); // not probed yet: no record to hang it on
    store.recordHostProbe('web01', { reachable: true });
    store.recordWatch('web01', { state: 'none', message: 'watch channel closed: sudo said s3cret-token' });
    vi.advanceTimersByTime(5_000);
    store.recordHostProbe('web01', { reachable: true });
    const watch = {
      state: 'none',
      since: '2025-03-01T10:00:00.000Z',
      message: 'watch channel closed: sudo said ***',
    };
    expect(store.snapshot().hosts).toEqual([
      { host: 'web01', reachable: true, lastProbeTime: '2025-03-01T10:00:05.000Z', watch },
    ]);
    await store.flush();
    const reloaded = new StatusStore({ persistence: memoryPersistence(state.stored).persistence });
    expect((await reloaded.load()).state).toBe('loaded');
    expect(reloaded.snapshot().hosts[0]?.watch).toEqual(watch);
  });

  it('keeps the revision in force when a load is invalid', () => {
    const store = new StatusStore();
    expect(store.snapshot().desiredState).toEqual({ valid: false });
    store.recordDesiredStateLoaded('abc123');
    vi.advanceTimersByTime(1_000);
    store.recordDesiredStateInvalid('hosts.yaml:3: bad indentation');
    expect(store.snapshot().desiredState).toEqual({
      valid: false,
      revision: 'abc123',
      lastLoadTime: '2025-03-01T10:00:00.000Z',
      lastError: 'hosts.yaml:3: bad indentation',
      lastErrorTime: '2025-03-01T10:00:01.000Z',
    });
    store.recordDesiredStateLoaded('def456');
    expect(store.snapshot().desiredState).toEqual({
      valid: true,
      revision: 'def456',
      lastLoadTime: '2025-03-01T10:00:01.000Z',
    });
  });

  it('bounds the event ring, dropping the oldest', () => {
    const store = new StatusStore({ maxEvents: 500 });
    for (let i = 0; i < 600; i++) {
      store.recordEvent({ type: 'Normal', reason: 'DriftCorrected', host: `h${i}`, message: 'restored' });
    }
    const events = store.snapshot().events;
    expect(events).toHaveLength(500);
    expect(events[0]?.host).toBe('h100');
    expect(events.at(-1)?.host).toBe('h599');
  });

  it('folds a repeated identical event into one with a count, moved to the end', () => {
    const store = new StatusStore();
    const down = { type: 'Warning', reason: 'HostUnreachable', host: 'web02', message: 'no route' } as const;
    store.recordEvent(down);
    vi.advanceTimersByTime(60_000);
    store.recordEvent({ type: 'Normal', reason: 'DriftCorrected', host: 'web01', message: 'restored' });
    vi.advanceTimersByTime(60_000);
    store.recordEvent(down);
    store.recordEvent({ ...down, message: 'connection refused' });
    const events = store.snapshot().events;
    expect(events.map((e) => [e.host, e.count])).toEqual([
      ['web01', 1],
      ['web02', 2],
      ['web02', 1],
    ]);
    expect(events[1]).toMatchObject({
      firstTime: '2025-03-01T10:00:00.000Z',
      time: '2025-03-01T10:02:00.000Z',
    });
  });

  it('prune drops hosts and resources that left the desired state, keeps events', () => {
    const store = new StatusStore();
    for (const host of ['web01', 'web02']) {
      store.recordHostProbe(host, { reachable: true });
      store.setCondition({ host, kind: 'File', name: 'motd' }, drifted);
      store.setCondition({ host, kind: 'File', name: 'issue' }, drifted);
    }
    store.recordEvent({ type: 'Normal', reason: 'DriftCorrected', host: 'web02', message: 'restored' });
    store.prune({ hosts: ['web01'], resources: [web01Motd] });
    const snap = store.snapshot();
    expect(snap.hosts.map((h) => h.host)).toEqual(['web01']);
    expect(snap.resources.map((r) => `${r.host}/${r.name}`)).toEqual(['web01/motd']);
    expect(snap.events).toHaveLength(1);
  });

  it('snapshot is sorted, JSON-serializable and a copy', () => {
    const store = new StatusStore();
    store.setCondition({ host: 'web02', kind: 'File', name: 'a' }, drifted);
    store.setCondition({ host: 'web01', kind: 'Service', name: 'b' }, drifted);
    store.setCondition({ host: 'web01', kind: 'File', name: 'c' }, drifted);
    const snap = store.snapshot();
    expect(snap.version).toBe(1);
    expect(snap.resources.map((r) => `${r.host}/${r.kind}/${r.name}`)).toEqual([
      'web01/File/c',
      'web01/Service/b',
      'web02/File/a',
    ]);
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
    snap.resources[0]!.conditions[0]!.status = 'False';
    expect(store.snapshot().resources[0]?.conditions[0]?.status).toBe('True');
  });
});

describe('StatusStore persistence', () => {
  it('coalesces a burst of changes into one write per debounce window', async () => {
    const { state, persistence } = memoryPersistence();
    const store = new StatusStore({ persistence, debounceMs: 500 });
    for (let i = 0; i < 100; i++) store.recordHostProbe(`h${i}`, { reachable: true });
    await vi.advanceTimersByTimeAsync(499);
    expect(state.writes).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(state.writes).toHaveLength(1);
    expect(JSON.parse(state.writes[0]!).hosts).toHaveLength(100);
    // A condition set again unchanged is not a change: nothing more is written.
    store.setCondition(web01Motd, drifted);
    await vi.advanceTimersByTimeAsync(500);
    store.setCondition(web01Motd, drifted);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(state.writes).toHaveLength(2);
  });

  it('close() writes pending changes at once and schedules nothing after', async () => {
    const { state, persistence } = memoryPersistence();
    const store = new StatusStore({ persistence });
    store.recordDesiredStateLoaded('abc');
    await store.close();
    expect(state.writes).toHaveLength(1);
    store.recordDesiredStateLoaded('def');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(state.writes).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reports a failed write and retries it with the next flush', async () => {
    const { state, persistence } = memoryPersistence();
    const errors: unknown[] = [];
    const store = new StatusStore({ persistence, onPersistError: (e) => errors.push(e) });
    state.failNext = 1;
    store.recordDesiredStateLoaded('abc');
    await store.flush();
    expect(errors).toHaveLength(1);
    expect(state.writes).toHaveLength(0);
    await store.flush();
    expect(state.writes).toHaveLength(1);
  });

  it('round-trips through load', async () => {
    const mem = memoryPersistence();
    const first = new StatusStore({ persistence: mem.persistence });
    first.recordDesiredStateLoaded('abc');
    first.recordHostProbe('web01', { reachable: true });
    first.setCondition(web01Motd, { ...drifted, observedRevision: 'abc' });
    first.recordEvent({ type: 'Warning', reason: 'DriftDetected', ...web01Motd, message: 'content differs' });
    await first.close();
    const second = new StatusStore({ persistence: mem.persistence });
    expect(await second.load()).toEqual({ state: 'loaded', hosts: 1, resources: 1, events: 1 });
    expect(second.snapshot()).toEqual(first.snapshot());
  });

  it.each([
    ['not JSON', '{"version":1,', /not JSON/],
    ['wrong version', '{"version":7}', /\/version/],
    [
      'bad condition status',
      JSON.stringify({
        version: 1,
        desiredState: { valid: true },
        hosts: [],
        resources: [{ host: 'h', kind: 'File', name: 'n', conditions: [{ type: 'Ready', status: 'Yes' }] }],
        events: [],
      }),
      /\/resources\/0\/conditions\/0\/status/,
    ],
  ])('sets a corrupt document aside (%s) and starts empty', async (_label, text, reason) => {
    const mem = memoryPersistence(text);
    const store = new StatusStore({ persistence: mem.persistence });
    const outcome = await store.load();
    expect(outcome).toMatchObject({ state: 'corrupt', movedTo: '/state/status.json.corrupt-x' });
    expect(outcome.state === 'corrupt' && outcome.reason).toMatch(reason);
    expect(mem.state.quarantined).toEqual([text]);
    expect(store.snapshot().hosts).toEqual([]);
  });

  it('survives a read that fails and one that finds nothing', async () => {
    const failing: StatusPersistence = {
      read: async () => {
        throw new Error('EIO: i/o error');
      },
      write: async () => {},
      quarantine: async () => '',
    };
    expect(await new StatusStore({ persistence: failing }).load()).toEqual({
      state: 'unreadable',
      reason: 'EIO: i/o error',
    });
    expect(await new StatusStore({ persistence: memoryPersistence().persistence }).load()).toEqual({
      state: 'empty',
    });
    expect(await new StatusStore().load()).toEqual({ state: 'empty' });
  });
});
