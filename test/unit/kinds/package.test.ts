import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildSnapshot } from '../../../src/core/build-snapshot.js';
import { kindByName } from '../../../src/kinds/registry.js';
import { kindSchemas } from '../../../src/source/crds.js';
import { expectProblem, hostDoc } from '../../support/documents.js';

const SHA = '3b1f'.repeat(16);
const pkg = (spec: Record<string, unknown>) => ({
  apiVersion: 'hostop.dev/v1alpha1',
  kind: 'Package',
  metadata: { name: 'otelcol' },
  spec: { hosts: ['mon'], package: 'otelcol-contrib', ...spec },
});
const build = (spec: Record<string, unknown>) =>
  buildSnapshot(
    [{ file: 'p.yaml', text: `${stringify(hostDoc('mon'))}---\n${stringify(pkg(spec))}` }],
    kindSchemas(),
    kindByName,
  );
const problems = (spec: Record<string, unknown>) =>
  build(spec).problems.map((p) => `${p.path}: ${p.message}`);

function packagesOf(spec: Record<string, unknown>) {
  const { intents, problems } = build(spec);
  expect(problems).toEqual([]);
  return intents![0]!.packages;
}

const resource = { kind: 'Package', name: 'otelcol' };
const ONE_OF = '/spec/source/deb: set exactly one of path (a file below the desired-state directory) and url';

describe('Package: render', () => {
  it('from the host apt sources, at a version', () => {
    expect(packagesOf({ version: '0.123.0' })).toEqual([
      { name: 'otelcol-contrib', version: '0.123.0', state: 'present', resource },
    ]);
  });

  it('without a version: any installed version satisfies (no version field at all)', () => {
    const [p] = packagesOf({})!;
    expect(p).toEqual({ name: 'otelcol-contrib', state: 'present', resource });
    expect('version' in p!).toBe(false);
  });

  it('from a .deb below the desired-state directory, the path as written', () => {
    const path = 'packages/otelcol-contrib_0.123.0_amd64.deb';
    expect(packagesOf({ version: '0.123.0', source: { deb: { path, sha256: SHA } } })).toEqual([
      { name: 'otelcol-contrib', version: '0.123.0', state: 'present', deb: { sha256: SHA, path }, resource },
    ]);
  });

  it('from a .deb at a URL', () => {
    const url = 'https://example.org/otelcol-contrib_0.123.0_amd64.deb';
    expect(packagesOf({ version: '1:0.123.0-1', source: { deb: { url, sha256: SHA } } })).toEqual([
      {
        name: 'otelcol-contrib',
        version: '1:0.123.0-1',
        state: 'present',
        deb: { sha256: SHA, url },
        resource,
      },
    ]);
  });

  it('absent', () => {
    expect(packagesOf({ state: 'absent' })).toEqual([{ name: 'otelcol-contrib', state: 'absent', resource }]);
  });

  it('suspended: renders nothing, and the intent has no packages array', () => {
    const { intents, problems } = build({ version: '0.123.0', suspend: true });
    expect(problems).toEqual([]);
    expect(intents![0]!.packages).toBeUndefined();
  });

  it.each([['otelcol-contrib'], ['php8.2-fpm'], ['libstdc++6'], ['g++']])(
    'accepts the package name %s',
    (name) => {
      expect(problems({ package: name })).toEqual([]);
    },
  );

  it.each([
    ['0.123.0'],
    ['1:0.123.0-1'],
    ['8.2.36-1~deb12u1'],
    ['1.0~rc1'],
    ['2:1.0-1:2-3'],
    ['1.0+dfsg-1+b1'],
  ])('accepts the version %s', (version) => {
    expect(problems({ version })).toEqual([]);
  });
});

describe('Package: refused', () => {
  it.each([
    [{ package: 'Otelcol' }, '/spec/package: '],
    [{ package: 'x' }, '/spec/package: '], // at least two characters
    [{ package: '-x' }, '/spec/package: '],
    [{ package: 'otelcol_contrib' }, '/spec/package: '],
    [{ version: 'v0.123.0' }, '/spec/version: '], // must start with a digit
    [{ version: '0.123.0-' }, '/spec/version: '], // an empty revision
    [{ version: '0.123:0' }, '/spec/version: '], // a colon without an epoch
    [{ version: '0.123.0 ' }, '/spec/version: '],
    [{ state: 'latest' }, '/spec/state: must be one of: present, absent'],
    [{ source: {} }, '/spec/source/deb: required field is missing'],
    [{ source: { deb: { path: 'a.deb' } } }, '/spec/source/deb/sha256: required field is missing'],
    [{ source: { deb: { path: 'a.deb', sha256: SHA.toUpperCase() } } }, '/spec/source/deb/sha256: '],
    [{ source: { deb: { path: 'a.deb', sha256: SHA.slice(1) } } }, '/spec/source/deb/sha256: '],
    [{ source: { deb: { path: '/srv/a.deb', sha256: SHA } } }, '/spec/source/deb/path: '],
    [{ source: { deb: { path: '../a.deb', sha256: SHA } } }, '/spec/source/deb/path: '],
    [{ source: { deb: { path: 'packages/../../a.deb', sha256: SHA } } }, '/spec/source/deb/path: '],
    [{ source: { deb: { path: 'packages/a.rpm', sha256: SHA } } }, '/spec/source/deb/path: '],
    [{ source: { deb: { url: 'ftp://example.org/a.deb', sha256: SHA } } }, '/spec/source/deb/url: '],
    [{ source: { deb: { url: 'file:///srv/a.deb', sha256: SHA } } }, '/spec/source/deb/url: '],
    [{ source: { deb: { sha256: SHA } } }, ONE_OF],
    [{ source: { deb: { path: 'a.deb', url: 'https://example.org/a.deb', sha256: SHA } } }, ONE_OF],
    [
      { state: 'absent', version: '0.123.0' },
      '/spec/version: state absent removes the package whatever version is installed: remove version',
    ],
    [
      { state: 'absent', source: { deb: { path: 'a.deb', sha256: SHA } } },
      '/spec/source: state absent installs nothing, so there is nothing to take from a source: remove source',
    ],
    [{ hosts: undefined }, '/spec: set exactly one of spec.hosts or spec.hostSelector'],
    [{ colour: 'blue' }, '/spec/colour: unknown field (not in the schema)'],
  ])('%j: %s', (spec, message) => {
    expectProblem(problems(spec), message);
  });
});
