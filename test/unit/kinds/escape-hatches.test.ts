import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildSnapshot } from '../../../src/core/build-snapshot.js';
import { renderSnapshot } from '../../../src/core/render.js';
import { kindByName } from '../../../src/kinds/registry.js';
import { unitName } from '../../../src/kinds/unit-name.js';
import { kindSchemas } from '../../../src/source/crds.js';
import { TEST_HOST_KEY, expectProblem, hostDoc } from '../../support/documents.js';

const doc = (kind: string, spec: Record<string, unknown>) => ({
  apiVersion: 'hostop.dev/v1alpha1',
  kind,
  metadata: { name: 'r' },
  spec: { hosts: ['h'], ...spec },
});
const build = (docs: object[]) =>
  buildSnapshot(
    [{ file: 't.yaml', text: docs.map((d) => stringify(d)).join('---\n') }],
    kindSchemas(),
    kindByName,
  );
const errors = (docs: object[]) => build(docs).problems.map((p) => `${p.path}: ${p.message}`);
function intent(kind: string, spec: Record<string, unknown>) {
  const { snapshot, problems } = build([hostDoc('h'), hostDoc('other'), doc(kind, spec)]);
  expect(problems).toEqual([]);
  return renderSnapshot(snapshot!, kindByName).find((i) => i.host.name === 'h')!;
}

describe('unit names', () => {
  it.each([
    ['nginx', 'nginx.service'],
    ['nginx.service', 'nginx.service'],
    ['getty@tty1', 'getty@tty1.service'],
    ['cups.socket', 'cups.socket'],
    ['apt-daily.timer', 'apt-daily.timer'],
    ['php8.2-fpm', 'php8.2-fpm.service'],
  ])('%s -> %s', (given, full) => {
    expect(unitName(given)).toBe(full);
  });
});

describe('Host', () => {
  it.each([
    [
      { user: 'deploy' },
      '/spec/privilege: user deploy is not root: set privilege: sudo (passwordless sudo -n)',
    ],
    [{ hostKey: `${TEST_HOST_KEY} root@h` }, '/spec/hostKey: '],
    [{ hostKey: 'ssh-rsa AAAAB3NzaC1yc2E' }, '/spec/hostKey: '],
    [{ identityFile: 'keys/id' }, '/spec/identityFile: '],
    [{ port: 0 }, '/spec/port: must be >= 1'],
  ])('rejects %j', (spec, message) => {
    expectProblem(errors([hostDoc('h', spec)]), message);
  });

  it('accepts a sudo user and fills the defaults', () => {
    const { snapshot, problems } = build([
      hostDoc('h', { user: 'deploy', privilege: 'sudo' }),
      hostDoc('r2'),
    ]);
    expect(problems).toEqual([]);
    expect(snapshot!.hosts.find((h) => h.name === 'h')).toMatchObject({
      port: 22,
      user: 'deploy',
      privilege: 'sudo',
    });
    expect(snapshot!.hosts.find((h) => h.name === 'r2')).toMatchObject({
      port: 22,
      user: 'root',
      privilege: 'root',
    });
  });
});

describe('File', () => {
  it.each([
    ['/etc/app/config.json', undefined, 'json'],
    ['/etc/app/config.yaml', undefined, 'yaml'],
    ['/etc/app/config.yml', undefined, 'yaml'],
    ['/etc/app/config.conf', undefined, 'text'],
    ['/etc/app/settings', 'json', 'json'],
  ])('%s (format %s) is compared as %s', (path, format, expected) => {
    const [file] = intent('File', { path, content: '{}\n', ...(format ? { format } : {}) }).files;
    expect(file!.format).toBe(expected);
  });

  it('renders the spec verbatim with defaults, full unit names and the whole content as a secret when asked', () => {
    const [file] = intent('File', {
      path: '/etc/app/token',
      content: 'tok\n',
      secret: true,
      notify: ['app', 'app-worker.timer'],
      validate: { argv: ['/usr/bin/app', 'check', '--file={}'] },
    }).files;
    expect(file).toEqual({
      path: '/etc/app/token',
      content: 'tok\n',
      mode: '0644',
      owner: 'root',
      group: 'root',
      format: 'text',
      validate: { argv: ['/usr/bin/app', 'check', '--file={}'], timeoutMs: 30_000 },
      notify: ['app.service', 'app-worker.timer'],
      secrets: ['tok\n'],
      resource: { kind: 'File', name: 'r' },
    });
  });

  it.each([['/etc/../shadow'], ['/etc/./x'], ['etc/x'], ['/etc//x'], ['/etc/x/'], ['/'], ['/etc/a\nb']])(
    'rejects the path %j',
    (path) => {
      expect(
        errors([hostDoc('h'), doc('File', { path, content: '' })]).some((e) => e.startsWith('/spec/path: ')),
      ).toBe(true);
    },
  );

  it.each([
    [{ path: '/x', content: '', mode: '644' }, '/spec/mode: '],
    [
      { path: '/x', content: '', validate: { argv: ['/bin/true'] } },
      '/spec/validate/argv: no argument contains {} (the candidate file): the command would not check it',
    ],
    [{ path: '/x', content: '', notify: ['a b'] }, '/spec/notify/0: '],
    [{ path: '/x' }, '/spec/content: required field is missing'],
  ])('rejects %j', (spec, message) => {
    expectProblem(errors([hostDoc('h'), doc('File', spec)]), message);
  });
});

describe('Service', () => {
  it.each([
    [{ unit: 'nginx' }, { unit: 'nginx.service', state: 'running', enabled: true, onChange: 'restart' }],
    [
      {
        unit: 'app.service',
        state: 'stopped',
        enabled: false,
        onChange: 'reload',
        health: { http: { url: 'http://127.0.0.1:8080/healthz' } },
      },
      {
        unit: 'app.service',
        state: 'stopped',
        enabled: false,
        onChange: 'reload',
        health: { type: 'http', url: 'http://127.0.0.1:8080/healthz', expectStatus: 200, timeoutMs: 30_000 },
      },
    ],
  ])('%j -> %j', (spec, service) => {
    expect(intent('Service', spec).services).toEqual([
      { ...service, resource: { kind: 'Service', name: 'r' } },
    ]);
  });

  it.each([
    [
      { unit: 'x', health: { http: { url: 'http://a/' }, tcp: { port: 1 } } },
      '/spec/health: set exactly one of health.http and health.tcp',
    ],
    [{ unit: 'x', state: 'started' }, '/spec/state: must be one of: running, stopped'],
    [{ unit: 'x', health: { http: { url: 'ftp://a/' } } }, '/spec/health/http/url: '],
  ])('rejects %j', (spec, message) => {
    expectProblem(errors([hostDoc('h'), doc('Service', spec)]), message);
  });
});

describe('PrometheusScrape', () => {
  it('resolves host targets (loopback for itself) and labels each with its host', () => {
    const [file] = intent('PrometheusScrape', {
      jobs: [
        {
          name: 'node',
          labels: { env: 'prod' },
          hostTargets: [
            { host: 'h', port: 9100 },
            { host: 'other', port: 9100 },
          ],
        },
      ],
    }).files;
    expect(file!.content).toContain(
      [
        '    static_configs:',
        '      - targets:',
        '          - 127.0.0.1:9100',
        '        labels:',
        '          env: prod',
        '          host: h',
        '      - targets:',
        '          - other.example.internal:9100',
        '        labels:',
        '          env: prod',
        '          host: other',
      ].join('\n'),
    );
    expect(file!.validate).toEqual({
      argv: ['/usr/bin/promtool', 'check', 'config', '{}'],
      timeoutMs: 30_000,
    });
  });

  it.each([
    [
      {
        jobs: [
          { name: 'a', targets: ['x:1'] },
          { name: 'a', targets: ['y:1'] },
        ],
      },
      '/spec/jobs/1/name: job "a" is also jobs[0]',
    ],
    [{ jobs: [{ name: 'a' }] }, '/spec/jobs/0: a job needs targets or hostTargets'],
    [
      { jobs: [{ name: 'a', labels: { host: 'x' }, hostTargets: [{ host: 'h', port: 1 }] }] },
      '/spec/jobs/0/labels/host: hostTargets set the host label themselves; remove it',
    ],
    [
      { jobs: [{ name: 'a', hostTargets: [{ host: 'ghost', port: 1 }] }] },
      '/spec/jobs/0/hostTargets/0/host: unknown host "ghost": no Host resource has that name',
    ],
    [{ jobs: [{ name: 'a', targets: ['http://x:1'] }] }, '/spec/jobs/0/targets/0: '],
  ])('rejects %j', (spec, message) => {
    expectProblem(errors([hostDoc('h'), doc('PrometheusScrape', spec)]), message);
  });
});
