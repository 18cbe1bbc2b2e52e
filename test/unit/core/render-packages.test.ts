import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildSnapshot } from '../../../src/core/build-snapshot.js';
import type { KindLookup } from '../../../src/core/kind-module.js';
import type { VersionIntent } from '../../../src/core/model.js';
import { renderFleet } from '../../../src/core/render.js';
import { kindByName } from '../../../src/kinds/registry.js';
import { kindSchemas } from '../../../src/source/crds.js';
import { hostDoc } from '../../support/documents.js';

// The rules across resources that render.ts adds for Package: one package has one declaration per host, and a
// package's version agrees with the version a component on that host was rendered for.

const doc = (kind: string, name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'hostop.dev/v1alpha1',
  kind,
  metadata: { name },
  spec,
});
const pkg = (name: string, spec: Record<string, unknown>) =>
  doc('Package', name, { hosts: ['mon'], package: 'otelcol-contrib', ...spec });
const collector = (version: string, hosts = ['mon']) => doc('OtelCollector', 'main', { hosts, version });
const tempo = (version: string) => doc('Tempo', 'tempo', { hosts: ['mon'], version });

/** Each resource in its own file (a.yaml, b.yaml, ...), beside the hosts mon and app. */
function build(...resources: object[]) {
  const files = [
    {
      file: 'hosts.yaml',
      text: `${stringify(hostDoc('mon', {}, { role: 'monitoring' }))}---\n${stringify(hostDoc('app'))}`,
    },
    ...resources.map((r, i) => ({ file: `${String.fromCharCode(97 + i)}.yaml`, text: stringify(r) })),
  ];
  return buildSnapshot(files, kindSchemas(), kindByName);
}
const lines = (...resources: object[]) =>
  build(...resources).problems.map((p) => `${p.file}:${p.line} ${p.path}: ${p.message}`);
const intentOf = (host: string, ...resources: object[]) => {
  const built = build(...resources);
  expect(built.problems).toEqual([]);
  return built.intents!.find((i) => i.host.name === host)!;
};

describe('packages in the host intent', () => {
  it('sorted by name; a host without packages has no packages field (intents stay as they were)', () => {
    const mon = intentOf(
      'mon',
      pkg('tempo', { package: 'tempo' }),
      pkg('otel', {}),
      pkg('curl', { package: 'curl', state: 'absent' }),
    );
    expect(mon.packages!.map((p) => p.name)).toEqual(['curl', 'otelcol-contrib', 'tempo']);
    expect('packages' in intentOf('app', pkg('otel', {}))).toBe(false);
  });

  it('the same package on two hosts from two resources is no conflict', () => {
    const built = build(pkg('on-mon', {}), pkg('on-app', { hosts: ['app'] }));
    expect(built.problems).toEqual([]);
    expect(built.intents!.map((i) => i.packages?.[0]?.resource.name)).toEqual(['on-app', 'on-mon']);
  });

  it('one package declared twice on one host is a problem naming both resources', () => {
    expect(
      lines(
        pkg('first', { version: '0.123.0' }),
        pkg('second', { hosts: undefined, hostSelector: { matchLabels: { role: 'monitoring' } } }),
      ),
    ).toEqual([
      'b.yaml:1 : package otelcol-contrib on host mon is declared by both Package/first (a.yaml:1) and ' +
        'Package/second (b.yaml:1)',
    ]);
  });
});

describe('a package version agrees with the component rendered for it', () => {
  it.each([
    ['0.123.0', '0.123.0'],
    ['0.123.0', '1:0.123.0-1'], // dpkg-query's form: epoch and revision are not the upstream version
    ['0.123.0', '0.123.0-1~deb12u1'],
  ])('OtelCollector %s with Package %s: valid', (declared, installed) => {
    expect(lines(collector(declared), pkg('otel', { version: installed }))).toEqual([]);
  });

  it('OtelCollector (exact) and a Package at another version: an error naming both, the host and both versions', () => {
    expect(lines(collector('0.123.0'), pkg('otel', { version: '0.125.0' }))).toEqual([
      'b.yaml:1 /spec/version: package otelcol-contrib on host mon: Package/otel (b.yaml:1) installs version ' +
        '0.125.0, but OtelCollector/main (a.yaml:1) is rendered for otelcol-contrib 0.123.0 (the exporter names ' +
        'and the reload method): make the versions agree',
    ]);
  });

  it('names the upstream part when the package version has an epoch or a revision', () => {
    expect(lines(collector('0.123.0'), pkg('otel', { version: '1:0.144.0-1' }))).toEqual([
      'b.yaml:1 /spec/version: package otelcol-contrib on host mon: Package/otel (b.yaml:1) installs version ' +
        '1:0.144.0-1 (upstream 0.144.0), but OtelCollector/main (a.yaml:1) is rendered for otelcol-contrib ' +
        '0.123.0 (the exporter names and the reload method): make the versions agree',
    ]);
  });

  it('one problem per host where they meet', () => {
    const both = ['mon', 'app'];
    const found = lines(collector('0.123.0', both), pkg('otel', { hosts: both, version: '0.124.0' }));
    expect(found.map((l) => l.match(/on host (\S+):/)?.[1])).toEqual(['app', 'mon']);
  });

  it('Tempo (exact) is coupled the same way', () => {
    expect(lines(tempo('2.8.2'), pkg('tempo', { package: 'tempo', version: '2.8.2' }))).toEqual([]);
    expect(lines(tempo('2.8.2'), pkg('tempo', { package: 'tempo', version: '2.9.0' }))).toEqual([
      'b.yaml:1 /spec/version: package tempo on host mon: Package/tempo (b.yaml:1) installs version 2.9.0, but ' +
        'Tempo/tempo (a.yaml:1) is rendered for tempo 2.8.2 (the config shape): make the versions agree',
    ]);
  });

  it('no coupling without a package version, on another host, or for another package', () => {
    expect(lines(collector('0.123.0'), pkg('otel', {}))).toEqual([]);
    expect(lines(collector('0.123.0'), pkg('otel', { hosts: ['app'], version: '0.125.0' }))).toEqual([]);
    expect(lines(collector('0.123.0'), pkg('tempo', { package: 'tempo', version: '2.9.0' }))).toEqual([]);
  });

  it('a suspended Package is not coupled (it renders nothing)', () => {
    expect(lines(collector('0.123.0'), pkg('otel', { version: '0.125.0', suspend: true }))).toEqual([]);
  });

  it('a Package that removes what a component needs is an error', () => {
    expect(lines(collector('0.123.0'), pkg('otel', { state: 'absent' }))).toEqual([
      'b.yaml:1 /spec/state: package otelcol-contrib on host mon: Package/otel (b.yaml:1) removes it, but ' +
        'OtelCollector/main (a.yaml:1) is rendered for otelcol-contrib 0.123.0 (the exporter names and the ' +
        'reload method)',
    ]);
  });

  describe("match 'minimum' (no kind declares one from a package yet: a stand-in kind does)", () => {
    // Service renders, besides its own intent, a minimum version read from the tempo package.
    const minimum =
      (version: string): KindLookup =>
      (kind) => {
        const real = kindByName(kind);
        if (kind !== 'Service' || !real) return real;
        return {
          ...real,
          render: (res, host, snapshot) => ({
            ...real.render(res, host, snapshot),
            versions: [
              {
                component: 'tempo',
                source: { package: 'tempo' },
                version,
                match: 'minimum',
                why: 'a feature',
                resource: { kind: res.kind, name: res.metadata.name },
              } satisfies VersionIntent,
            ],
          }),
        };
      };
    const coupled = (declared: string, installed: string) => {
      const built = build(
        doc('Service', 'svc', { hosts: ['mon'], unit: 'tempo' }),
        pkg('tempo', { package: 'tempo', version: installed }),
      );
      expect(built.problems).toEqual([]);
      const snapshot = built.snapshot!;
      return renderFleet(snapshot, minimum(declared)).problems.map((p) => p.message);
    };

    it.each([
      ['2.8.0', '2.8.0'],
      ['2.8.0', '2.8.1-1'],
      ['2.8.0', '3.0.0'],
    ])('minimum %s, Package %s: valid', (declared, installed) => {
      expect(coupled(declared, installed)).toEqual([]);
    });

    it('minimum 2.8.0, Package 2.7.9: an error saying "or newer"', () => {
      expect(coupled('2.8.0', '2.7.9')).toEqual([
        'package tempo on host mon: Package/tempo (b.yaml:1) installs version 2.7.9, but Service/svc (a.yaml:1) ' +
          'is rendered for tempo 2.8.0 or newer (a feature): make the versions agree',
      ]);
    });
  });
});
