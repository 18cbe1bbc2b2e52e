import { describe, expect, it } from 'vitest';
import { diffHost, planIsEmpty, sameStructure, sha256 } from '../../../src/core/diff.js';
import type { FileIntent, HostIntent, ObservedHost, ServiceIntent } from '../../../src/core/model.js';
import { hostIntent } from '../../support/intents.js';

const res = { kind: 'File', name: 'cfg' };
const file = (over: Partial<FileIntent> = {}): FileIntent => ({
  path: '/etc/app/config.json',
  content: '{"a": 1, "b": 2}\n',
  mode: '0644',
  owner: 'root',
  group: 'root',
  format: 'json',
  notify: ['app.service'],
  secrets: [],
  resource: res,
  ...over,
});
const svc: ServiceIntent = {
  unit: 'app.service',
  state: 'running',
  enabled: true,
  onChange: 'reload',
  resource: res,
};
const intent = (files: FileIntent[], services: ServiceIntent[] = [svc]): HostIntent =>
  hostIntent(files, services);
const observed = (files: ObservedHost['files'], active = 'active', enabled = 'enabled'): ObservedHost => ({
  host: 'h1',
  facts: { hostname: 'h1', os: 'Debian', systemd: true },
  files,
  units: { 'app.service': { unit: 'app.service', active, enabled, load: 'loaded' } },
});
const same = (f: FileIntent) => ({
  path: f.path,
  type: 'file' as const,
  sha256: sha256(f.content),
  size: 1,
  mode: '644',
  owner: 'root',
  group: 'root',
});

describe('diffHost', () => {
  const f = file();
  const cases: {
    name: string;
    files: ObservedHost['files'];
    contents?: Record<string, string>;
    active?: string;
    enabled?: string;
    expectFile: string;
    changed?: string[];
    services: string[];
    needs?: string[];
  }[] = [
    {
      name: 'missing file is created, running service reloads',
      files: {},
      expectFile: 'create',
      services: ['reload'],
    },
    {
      name: 'identical file is unchanged, nothing to do',
      files: { [f.path]: same(f) },
      expectFile: 'unchanged',
      services: [],
    },
    {
      name: 'mode 0644 vs 644 is the same',
      files: { [f.path]: { ...same(f), mode: '0644' } },
      expectFile: 'unchanged',
      services: [],
    },
    {
      name: 'mode drift only: update, no reload',
      files: { [f.path]: { ...same(f), mode: '600' } },
      expectFile: 'update',
      changed: ['mode'],
      services: [],
    },
    {
      name: 'owner and group drift',
      files: { [f.path]: { ...same(f), owner: 'app', group: 'app' } },
      expectFile: 'update',
      changed: ['owner', 'group'],
      services: [],
    },
    {
      name: 'different hash without content asks for it',
      files: { [f.path]: { ...same(f), sha256: 'x' } },
      expectFile: 'update',
      changed: ['content'],
      services: ['reload'],
      needs: [f.path],
    },
    {
      name: 'key order only is no drift',
      files: { [f.path]: { ...same(f), sha256: 'x' } },
      contents: { [f.path]: '{"b":2,"a":1}' },
      expectFile: 'unchanged',
      services: [],
    },
    {
      name: 'real JSON change is drift',
      files: { [f.path]: { ...same(f), sha256: 'x' } },
      contents: { [f.path]: '{"a":1,"b":3}' },
      expectFile: 'update',
      changed: ['content'],
      services: ['reload'],
    },
    {
      name: 'a directory in the way is a type change',
      files: { [f.path]: { path: f.path, type: 'dir' } },
      expectFile: 'update',
      changed: ['type'],
      services: ['reload'],
    },
    {
      name: 'a symlink in the way is a type change',
      files: { [f.path]: { path: f.path, type: 'symlink' } },
      expectFile: 'update',
      changed: ['type'],
      services: ['reload'],
    },
    {
      name: 'stopped service is started, not also reloaded',
      files: {},
      active: 'inactive',
      expectFile: 'create',
      services: ['start'],
    },
    {
      name: 'disabled service is enabled',
      files: { [f.path]: same(f) },
      enabled: 'disabled',
      expectFile: 'unchanged',
      services: ['enable'],
    },
    {
      name: 'failed service is started',
      files: { [f.path]: same(f) },
      active: 'failed',
      expectFile: 'unchanged',
      services: ['start'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = diffHost(intent([f]), observed(c.files, c.active, c.enabled), { contents: c.contents });
      expect(plan.files[0]!.action).toBe(c.expectFile);
      if (c.changed) expect(plan.files[0]!.changed).toEqual(c.changed);
      expect(plan.services.flatMap((s) => s.actions)).toEqual(c.services);
      expect(plan.needsContent).toEqual(c.needs ?? []);
      expect(planIsEmpty(plan)).toBe(c.expectFile === 'unchanged' && c.services.length === 0);
    });
  }

  it('reloads a unit once however many of its files change', () => {
    const a = file({ path: '/etc/app/a.json' });
    const b = file({ path: '/etc/app/b.json' });
    const plan = diffHost(intent([a, b]), observed({}));
    expect(plan.services).toHaveLength(1);
    expect(plan.services[0]!.actions).toEqual(['reload']);
    expect(plan.services[0]!.reasons[0]).toContain('/etc/app/a.json, /etc/app/b.json');
  });

  it('prunes managed files whose resource is gone, never unmanaged ones', () => {
    const plan = diffHost(intent([f]), observed({ [f.path]: same(f) }), {
      managed: {
        [f.path]: { ...res, original: false },
        '/etc/old.conf': { kind: 'File', name: 'old', original: false },
        '/etc/was-there.conf': { kind: 'File', name: 'old', original: true },
      },
    });
    expect(plan.files.map((x) => [x.path, x.action, x.resource, x.restoresOriginal])).toEqual([
      [f.path, 'unchanged', res, undefined],
      ['/etc/old.conf', 'delete', { kind: 'File', name: 'old' }, undefined],
      ['/etc/was-there.conf', 'delete', { kind: 'File', name: 'old' }, true],
    ]);
    const noPrune = diffHost(intent([f]), observed({ [f.path]: same(f) }), {
      managed: { '/etc/old.conf': { ...res, original: false } },
      prune: false,
    });
    expect(noPrune.files.map((x) => x.action)).toEqual(['unchanged']);
  });

  it('shows a unified diff with secrets masked', () => {
    const secret = file({
      path: '/etc/app/ds.yaml',
      format: 'text',
      content: 'url: x\npassword: hunter2\n',
      secrets: ['hunter2'],
    });
    const plan = diffHost(intent([secret]), observed({ [secret.path]: { ...same(secret), sha256: 'x' } }), {
      contents: { [secret.path]: 'url: y\npassword: oldpass\n' },
    });
    const d = plan.files[0]!.diff!;
    expect(d).toContain('-url: y');
    expect(d).toContain('+url: x');
    expect(d).not.toContain('hunter2');
    expect(d).not.toContain('oldpass');
  });
});

describe('sameStructure', () => {
  it.each([
    ['json', '{"a":1,"b":[1,2]}', '{ "b": [1, 2], "a": 1 }', true],
    ['json', '{"a":1}', '{"a":"1"}', false],
    ['json', '{"a":[1,2]}', '{"a":[2,1]}', false],
    ['yaml', 'a: 1\nb: {c: 2}\n', 'b:\n  c: 2\na: 1\n', true],
    ['yaml', 'a: 1\n', 'a: [1\n', false],
    ['yaml', 'l:\n  - {b: 1, a: 2}\n', 'l: [{a: 2, b: 1}]\n', true],
    // Compared as JSON compares: -0 is 0 (util.isDeepStrictEqual would call this drift).
    ['json', '{"a":-0}', '{"a":0}', true],
    ['yaml', 'a: -0.0\n', 'a: 0\n', true],
    // Unlike JSON: .inf and .nan are not null, a timestamp is its value.
    ['yaml', 'a: .inf\n', 'a: null\n', false],
    ['yaml', 'a: .nan\n', 'a: null\n', false],
    ['yaml', 'a: .inf\n', 'a: .inf\n', true],
    ['yaml', 'a: !!timestamp 2026-01-01\n', 'a: {}\n', false],
    ['yaml', 'a: !!timestamp 2026-01-01\n', 'a: !!timestamp 2026-01-01\n', true],
  ] as const)('%s %s vs %s -> %s', (format, a, b, want) => {
    expect(sameStructure(format, a, b)).toBe(want);
  });
});

describe('a YAML file on a host far larger than the desired one', () => {
  // 590 KB: a 50,000-key mapping aliased 99 times. Parsing it alone took the YAML library 2 s on the event loop.
  const bomb = `a: &a\n${Array.from({ length: 50_000 }, (_, i) => `  k${i}: ${i}\n`).join('')}${Array.from(
    { length: 99 },
    (_, i) => `r${i}: *a\n`,
  ).join('')}`;
  const y = file({ path: '/etc/app/config.yaml', content: 'a: 1\n', format: 'yaml' });

  it('is drift by its size alone: its content is neither fetched nor parsed', () => {
    const seen = { ...same(y), sha256: sha256(bomb), size: Buffer.byteLength(bomb) };
    const t = performance.now();
    const plan = diffHost(intent([y]), observed({ [y.path]: seen }));
    expect(plan.files[0]).toMatchObject({ action: 'update', changed: ['content'] });
    expect(plan.needsContent).toEqual([]);
    // Even handed the content (a plan that shows diffs fetches it), it is compared by bytes, not parsed.
    const shown = diffHost(intent([y]), observed({ [y.path]: seen }), { contents: { [y.path]: bomb } });
    expect(shown.files[0]).toMatchObject({ action: 'update', changed: ['content'] });
    expect(performance.now() - t).toBeLessThan(1000);
  });

  it('a formatting-only difference of a file of similar size is still no drift', () => {
    expect(sameStructure('yaml', 'b: 2\na: 1\n', '{a: 1, b: 2}\n')).toBe(true);
    expect(sameStructure('yaml', `${'#'.repeat(40_000)}\na: 1\n`, 'a: 1\n')).toBe(false);
  });
});
