import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildSnapshot } from '../../../src/core/build-snapshot.js';
import { renderSnapshot } from '../../../src/core/render.js';
import { kindSchemas } from '../../../src/core/schemas.js';
import { escapeQuoted } from '../../../src/kinds/systemd-drop-in.js';

/** A problem line equal to `message`; a message ending in ': ' names only the field (schema wording may change). */
function expectProblem(lines: string[], message: string) {
  const found = lines.some((l) => (message.endsWith(': ') ? l.startsWith(message) : l === message));
  expect(found, `${message}\n  not in\n${lines.join('\n')}`).toBe(true);
}

const hosts = ['mon', 'app'].map((name) => ({
  apiVersion: 'hostop.dev/v1alpha1',
  kind: 'Host',
  metadata: { name },
  spec: {
    address: `${name}.example.internal`,
    hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9i9rPYL74tpLWzE8GhXhB2rE2MnMrA/GhHTlMJLOhS',
  },
}));
const app = (spec: Record<string, unknown>) => ({
  apiVersion: 'hostop.dev/v1alpha1',
  kind: 'AppInstrumentation',
  metadata: { name: 'a' },
  spec: { hosts: ['app'], serviceName: 'svc', collector: { host: 'mon' }, ...spec },
});
const build = (spec: Record<string, unknown>) =>
  buildSnapshot(
    [{ file: 't.yaml', text: [...hosts, app(spec)].map((d) => stringify(d)).join('---\n') }],
    kindSchemas(),
  );
function intent(spec: Record<string, unknown>) {
  const { snapshot, problems } = build(spec);
  expect(problems).toEqual([]);
  return renderSnapshot(snapshot!).find((i) => i.host.name === 'app')!;
}
/** The variables of a rendered drop-in, read back the way systemd unquotes them. */
function dropInEnv(content: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of content.split('\n').filter((l) => l.startsWith('Environment='))) {
    const inner = line.slice('Environment="'.length, -1);
    const value = inner.replace(/\\x([0-9a-f]{2})|\\(.)|%%/g, (_m, hex: string, c: string) =>
      hex ? String.fromCharCode(Number.parseInt(hex, 16)) : (c ?? '%'),
    );
    const eq = value.indexOf('=');
    out[value.slice(0, eq)] = value.slice(eq + 1);
  }
  return out;
}
const systemd = { systemd: { unit: 'svc' } };

describe('systemd Environment= quoting', () => {
  it.each([
    ['plain', 'plain'],
    ['a b', 'a b'],
    ['say "hi"', 'say \\"hi\\"'],
    ['C:\\dir', 'C:\\\\dir'],
    ['100%', '100%%'],
    ['%h/x', '%%h/x'],
    ['$HOME', '$HOME'],
    ['tab\there', 'tab\\x09here'],
  ])('%j is written as %j', (value, quoted) => {
    expect(escapeQuoted(value)).toBe(quoted);
  });
});

describe('AppInstrumentation', () => {
  it('systemd: a [Service] drop-in with standard OTEL_* (every exporter explicit), daemon-reload, restart', () => {
    const i = intent({ ...systemd, environment: 'prod', resourceAttributes: { 'service.namespace': 'a b' } });
    const [file] = i.files;
    expect(file!.path).toBe('/etc/systemd/system/svc.service.d/50-hostop-otel.conf');
    expect(file!.content.split('\n')[1]).toBe('[Service]');
    expect(file).toMatchObject({ daemonReload: true, notify: ['svc.service'], mode: '0644', secrets: [] });
    expect(dropInEnv(file!.content)).toEqual({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://mon.example.internal:4317',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_LOGS_EXPORTER: 'none',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_RESOURCE_ATTRIBUTES: 'host.name=app,deployment.environment=prod,service.namespace=a%20b',
      OTEL_SERVICE_NAME: 'svc',
      OTEL_TRACES_EXPORTER: 'otlp',
    });
    expect(i.services).toEqual([
      { unit: 'svc.service', onChange: 'restart', resource: { kind: 'AppInstrumentation', name: 'a' } },
    ]);
  });

  it('systemd: headers survive the quoting, are listed as secrets in their on-disk form, and close the file to root', () => {
    const value = '50% "off"\\now';
    const [file] = intent({ ...systemd, headers: { 'X-Promo': value } }).files;
    expect(dropInEnv(file!.content).OTEL_EXPORTER_OTLP_HEADERS).toBe(`X-Promo=${value}`);
    expect(file!.secrets).toEqual([escapeQuoted(value)]);
    expect(file!.content).toContain(escapeQuoted(value));
    expect(file!.mode).toBe('0600');
  });

  it.each([
    ['grpc', 'otlp_grpc', 'http://mon.example.internal:4317'],
    ['http/protobuf', 'otlp_http', 'http://mon.example.internal:4318/v1/traces'],
  ])('litellm over %s: OTEL_EXPORTER=%s, OTEL_ENDPOINT=%s', (protocol, exporter, endpoint) => {
    const [file] = intent({
      ...systemd,
      sdk: 'litellm',
      environment: 'staging',
      collector: { host: 'mon', protocol },
      headers: { Authorization: 'Bearer k' },
    }).files;
    expect(dropInEnv(file!.content)).toEqual({
      OTEL_ENDPOINT: endpoint,
      OTEL_ENVIRONMENT_NAME: 'staging',
      OTEL_EXPORTER: exporter,
      OTEL_HEADERS: 'Authorization=Bearer k',
      OTEL_RESOURCE_ATTRIBUTES: 'host.name=app',
      OTEL_SERVICE_NAME: 'svc',
    });
  });

  it('phpFpm: a pool with quoted env[] values (INI would read bare true as 1), autoload on, graceful reload', () => {
    const i = intent({
      collector: { host: 'mon', protocol: 'http/protobuf' },
      phpFpm: { version: '8.3', pool: 'shop', maxChildren: 1 },
      health: { tcp: { port: 9000 } },
    });
    const [file] = i.files;
    expect(file!.path).toBe('/etc/php/8.3/fpm/pool.d/shop.conf');
    expect(file!.content.split('\n').slice(0, 12)).toEqual([
      '; Managed by hostop (AppInstrumentation/a); local edits are reverted.',
      '[shop]',
      'user = www-data',
      'group = www-data',
      'listen = /run/php/php8.3-fpm-shop.sock',
      'listen.owner = www-data',
      'listen.group = www-data',
      'pm = dynamic',
      'pm.max_children = 1',
      'pm.start_servers = 1',
      'pm.min_spare_servers = 1',
      'pm.max_spare_servers = 1',
    ]);
    expect(file!.content).toContain('env[OTEL_PHP_AUTOLOAD_ENABLED] = "true"\n');
    expect(file!.content).toContain('env[OTEL_PROPAGATORS] = "baggage,tracecontext"\n');
    expect(file!.content).toContain('env[OTEL_LOGS_EXPORTER] = "none"\n');
    expect(file!.content).toContain(
      'env[OTEL_EXPORTER_OTLP_ENDPOINT] = "http://mon.example.internal:4318"\n',
    );
    expect(file!.daemonReload).toBeUndefined();
    expect(i.services).toEqual([
      {
        unit: 'php8.3-fpm.service',
        onChange: 'reload',
        health: { type: 'tcp', host: '127.0.0.1', port: 9000, timeoutMs: 30_000 },
        resource: { kind: 'AppInstrumentation', name: 'a' },
      },
    ]);
  });

  it.each([
    [{}, '/spec: set exactly one of systemd and phpFpm'],
    [{ ...systemd, phpFpm: { version: '8.2', pool: 'p' } }, '/spec: set exactly one of systemd and phpFpm'],
    [
      { ...systemd, sdk: 'litellm', signals: { metrics: true } },
      '/spec/signals: the LiteLLM otel callback exports traces only: traces true, metrics and logs false',
    ],
    [
      { ...systemd, sdk: 'litellm', collector: { host: 'mon', protocol: 'http/json' } },
      '/spec/collector/protocol: LiteLLM exports grpc (otlp_grpc) or http/protobuf (otlp_http)',
    ],
    [
      { sdk: 'litellm', phpFpm: { version: '8.2', pool: 'p' } },
      '/spec/sdk: a php-fpm pool runs the PHP SDK: use sdk otel',
    ],
    [
      { ...systemd, signals: { traces: false } },
      '/spec/signals: enable at least one signal, or delete the resource',
    ],
    [
      { ...systemd, env: { OTEL_ENDPOINT: 'x' } },
      '/spec/env/OTEL_ENDPOINT: OTEL_ENDPOINT is derived from the typed fields; set it there',
    ],
    [
      { ...systemd, resourceAttributes: { 'deployment.environment': 'x' } },
      '/spec/resourceAttributes/deployment.environment: use spec.environment',
    ],
    [
      { phpFpm: { version: '8.2', pool: 'p' }, env: { X: 'a$b' } },
      '/spec/env/X: a php-fpm env[] value cannot contain ", \\, $ or control characters',
    ],
    [
      { phpFpm: { version: '8.2', pool: 'p' }, headers: { A: 'say "x"' } },
      '/spec/headers/A: a php-fpm env[] value cannot contain ", \\, $ or control characters',
    ],
    [
      { ...systemd, health: { timeoutSeconds: 5 } },
      '/spec/health: set exactly one of health.http and health.tcp',
    ],
    [{ ...systemd, env: { X: 'a\nb' } }, '/spec/env/X: '],
  ])('rejects %j', (spec, message) => {
    expectProblem(
      build(spec).problems.map((p) => `${p.path}: ${p.message}`),
      message,
    );
  });
});
