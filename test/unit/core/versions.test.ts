import { describe, expect, it } from 'vitest';
import { diffHost, planIsEmpty } from '../../../src/core/diff.js';
import type { ObservedHost, VersionIntent } from '../../../src/core/model.js';
import { compareVersions, heldResources, upstreamVersion } from '../../../src/core/versions.js';
import { fileIntent, hostIntent, observedFiles } from '../../support/intents.js';

const collector = { kind: 'OtelCollector', name: 'main' };
const want = (over: Partial<VersionIntent> = {}): VersionIntent => ({
  component: 'otelcol-contrib',
  source: { package: 'otelcol-contrib' },
  version: '0.125.0',
  match: 'exact',
  why: 'the exporter names and the reload method',
  resource: collector,
  ...over,
});
const seen = (packages: ObservedHost['packages'], unreadable?: string): ObservedHost => ({
  ...observedFiles({}),
  ...(packages && { packages }),
  ...(unreadable && { packagesUnreadable: unreadable }),
});

describe('Debian versions', () => {
  it.each([
    ['0.123.0', '0.123.0'],
    ['1:0.123.0-1', '0.123.0'],
    ['8.2.36-1~deb12u1', '8.2.36'],
    ['2.8.1', '2.8.1'],
  ])('upstream part of %s is %s', (debian, upstream) => expect(upstreamVersion(debian)).toBe(upstream));

  it.each([
    ['0.125.0', '0.123.4', 1],
    ['0.123.0', '0.123.0', 0],
    ['3.0', '3.0.0', 0],
    ['2.10.0', '2.9.9', 1],
    ['0.99.0', '0.100.0', -1],
  ])('%s vs %s is %i', (a, b, c) => expect(compareVersions(a, b)).toBe(c));
});

describe('heldResources', () => {
  it('holds nothing when the installed version is the declared one (Debian revision ignored)', () => {
    expect(heldResources([want()], seen({ 'otelcol-contrib': '0.125.0-1' }))).toEqual([]);
  });

  it('names both versions on a mismatch', () => {
    expect(heldResources([want()], seen({ 'otelcol-contrib': '0.123.0' }))).toEqual([
      {
        resource: collector,
        reason: 'VersionMismatch',
        message:
          'otelcol-contrib 0.123.0 is installed on h1 but the resource declares 0.125.0, which decides the exporter names and the reload method; nothing was changed',
      },
    ]);
  });

  it('a minimum is met by a newer version and not by an older one', () => {
    const min = want({ match: 'minimum', version: '2.1.83' });
    expect(heldResources([min], seen({ 'otelcol-contrib': '2.1.90' }))).toEqual([]);
    expect(heldResources([min], seen({ 'otelcol-contrib': '2.1.9' }))[0]?.message).toContain(
      'declares 2.1.83 or newer',
    );
  });

  it('a package that is not installed, or a host whose versions cannot be read, holds the resource', () => {
    expect(heldResources([want()], seen({ 'otelcol-contrib': null }))[0]).toMatchObject({
      reason: 'NotInstalled',
      message: expect.stringContaining('otelcol-contrib is not installed on h1'),
    });
    const claude = want({
      component: 'claude',
      source: { program: '/usr/local/bin/claude' },
      match: 'minimum',
    });
    expect(heldResources([claude], seen({}))[0]).toMatchObject({
      reason: 'NotInstalled',
      message: expect.stringContaining('claude (/usr/local/bin/claude) is not installed on h1'),
    });
    expect(heldResources([claude], { ...seen({}), programs: { '/usr/local/bin/claude': '2.1.90' } })).toEqual(
      [],
    );
    expect(heldResources([want()], seen(undefined, 'dpkg-query is not installed'))[0]).toMatchObject({
      reason: 'VersionUnknown',
      message: expect.stringContaining('cannot read the installed version of otelcol-contrib on h1'),
    });
  });

  it('one entry per resource, however many versions it declares', () => {
    const two = [want(), want({ component: 'tempo', source: { package: 'tempo' }, version: '2.8.1' })];
    expect(heldResources(two, seen({ 'otelcol-contrib': '0.1.0', tempo: '0.1.0' }))).toHaveLength(1);
  });
});

describe('a held resource in the diff', () => {
  const config = fileIntent({
    path: '/etc/otelcol-contrib/config.yaml',
    content: 'new\n',
    resource: collector,
  });
  const other = fileIntent({ path: '/etc/motd', content: 'hi\n' });
  const held = heldResources([want()], seen({ 'otelcol-contrib': '0.123.0' }));

  it('is neither written nor pruned, other resources go on, and the plan is not empty', () => {
    const observed = observedFiles({ '/etc/otelcol-contrib/config.yaml': 'old\n', '/etc/motd': 'old\n' });
    const plan = diffHost(hostIntent([config, other]), observed, {
      held,
      managed: { '/etc/otelcol-contrib/config.yaml': { ...collector, original: false } },
    });
    expect(plan.files.map((f) => [f.path, f.action])).toEqual([['/etc/motd', 'update']]);
    expect(plan.held).toEqual(held);
    const inSync = diffHost(hostIntent([config]), observedFiles({}), { held });
    expect(inSync.files).toEqual([]);
    expect(planIsEmpty(inSync)).toBe(false);
  });
});
