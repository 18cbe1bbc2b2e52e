import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileStatusPersistence } from '../../../src/daemon/status-file.js';
import { StatusStore } from '../../../src/daemon/status-store.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'hostop-status-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe('createFileStatusPersistence', () => {
  it('creates the state directory 0700 and writes status.json 0600 with no temp file left', async () => {
    const dir = join(root, 'var', 'lib', 'hostop');
    const p = createFileStatusPersistence(dir);
    expect(await p.read()).toBeUndefined();
    expect(await mode(dir)).toBe(0o700);
    await p.write('{"a":1}\n');
    await p.write('{"a":2}\n');
    expect(await readFile(join(dir, 'status.json'), 'utf8')).toBe('{"a":2}\n');
    expect(await mode(join(dir, 'status.json'))).toBe(0o600);
    expect(await readdir(dir)).toEqual(['status.json']);
    expect(await p.read()).toBe('{"a":2}\n');
  });

  it('removes temp files a crash left behind when reading', async () => {
    await writeFile(join(root, 'status.json.tmp-123-abcd'), '{"torn":');
    await writeFile(join(root, 'status.json'), '{}');
    await writeFile(join(root, 'unrelated'), 'x');
    const p = createFileStatusPersistence(root);
    expect(await p.read()).toBe('{}');
    expect((await readdir(root)).sort()).toEqual(['status.json', 'unrelated']);
  });

  it('a failed write rejects and leaves no temp file', async () => {
    const p = createFileStatusPersistence(root);
    await p.write('old');
    // A non-empty directory where status.json should be makes the rename fail.
    await rm(join(root, 'status.json'));
    await mkdir(join(root, 'status.json', 'x'), { recursive: true });
    await expect(p.write('new')).rejects.toThrow();
    expect((await readdir(root)).sort()).toEqual(['status.json']);
  });

  it('quarantine renames the file with a timestamp', async () => {
    const p = createFileStatusPersistence(root, {
      now: () => Date.parse('2025-03-01T10:00:00.123Z'),
      setTimeout: () => undefined,
      clearTimeout: () => {},
    });
    await p.write('garbage');
    const moved = await p.quarantine();
    expect(moved).toBe(join(root, 'status.json.corrupt-2025-03-01T10-00-00-123Z'));
    expect(await readFile(moved, 'utf8')).toBe('garbage');
  });
});

describe('StatusStore on the real file', () => {
  it('persists across a restart and never writes a known secret', async () => {
    const first = new StatusStore({ persistence: createFileStatusPersistence(root) });
    first.setKnownSecrets(['Ds-Pass-42']);
    first.recordHostProbe('web01', { reachable: false, error: { code: 'X', message: 'saw Ds-Pass-42' } });
    first.recordEvent({
      type: 'Warning',
      reason: 'ApplyFailed',
      host: 'web01',
      message: 'password=Ds-Pass-42',
    });
    await first.close();
    const text = await readFile(join(root, 'status.json'), 'utf8');
    expect(text).not.toContain('Ds-Pass-42');
    const second = new StatusStore({ persistence: createFileStatusPersistence(root) });
    expect(await second.load()).toMatchObject({ state: 'loaded', hosts: 1, events: 1 });
    expect(second.snapshot()).toEqual(first.snapshot());
  });

  it('sets a corrupt file aside as status.json.corrupt-<time> and starts empty', async () => {
    await writeFile(join(root, 'status.json'), '{"version":1,"hosts":[tru');
    const store = new StatusStore({ persistence: createFileStatusPersistence(root) });
    const outcome = await store.load();
    expect(outcome.state).toBe('corrupt');
    const names = await readdir(root);
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^status\.json\.corrupt-\d{4}-\d\d-\d\dT/);
    store.recordDesiredStateLoaded('abc');
    await store.close();
    expect((await readdir(root)).sort()).toEqual(['status.json', names[0]]);
  });

  it('reports a status.json it cannot read as unreadable, without moving it', async () => {
    await mkdir(join(root, 'status.json'));
    const store = new StatusStore({ persistence: createFileStatusPersistence(root) });
    expect(await store.load()).toMatchObject({
      state: 'unreadable',
      reason: expect.stringMatching(/EISDIR/),
    });
    expect(await readdir(root)).toEqual(['status.json']);
  });
});
