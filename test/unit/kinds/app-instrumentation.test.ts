import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildSnapshot } from '../../../src/core/build-snapshot.js';
import { renderSnapshot } from '../../../src/core/render.js';
import { kindByName } from '../../../src/kinds/registry.js';
import { escapeQuoted } from '../../../src/kinds/systemd-drop-in.js';
import { kindSchemas } from '../../../src/source/crds.js';
import { expectProblem, hostDoc } from '../../support/documents.js';

const hosts = ['mon', 'app'].map((name) => hostDoc(name));
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
    kindByName,
  );
function intent(spec: Record<string, unknown>) {
  const { snapshot, problems } = build(spec);
  expect(problems).toEqual([]);
  return renderSnapshot(snapshot!, kindByName).find((i) => i.host.name === 'app')!;
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

  it('systemd: headers survive the quoting, are listed as secrets in their on-disk and raw forms, and close the file to root', () => {
    const value = '50% "off"\\now';
    const [file] = intent({ ...systemd, headers: { 'X-Promo': value } }).files;
    expect(dropInEnv(file!.content).OTEL_EXPORTER_OTLP_HEADERS).toBe(`X-Promo=${value}`);
    expect(file!.secrets).toEqual(expect.arrayContaining([escapeQuoted(value), value]));
    expect(file!.content).toContain(escapeQuoted(value));
    expect(file!.mode).toBe('0600');
  });

  it.each([
    ['grpc', 'otlp_grpc', 'http://mon.example.internal:4317'],
    ['http/protobuf', 'otlp_http', 'http://mon.example.internal:4318/v1/traces'],
  ])('litellm over %s: OTEL_EXPORTER=%s, OTEL_ENDPOINT=%s', (protocol, exporter, endpoint) => {
    // Sorted by path: the proxy's own config (hostop adds the otel callback to it), then the drop-in.
    const [config, file] = intent({
      ...systemd,
      sdk: 'litellm',
      environment: 'staging',
      collector: { host: 'mon', protocol },
      headers: { Authorization: 'Bearer k' },
    }).files;
    expect(config).toMatchObject({
      path: '/etc/litellm/config.yaml',
      format: 'yaml',
      notify: ['svc.service'],
      merge: [{ path: ['litellm_settings', 'callbacks'], items: ['otel'] }],
    });
    expect(dropInEnv(file!.content)).toEqual({
      OTEL_ENDPOINT: endpoint,
      OTEL_ENVIRONMENT_NAME: 'staging',
      OTEL_EXPORTER: exporter,
      OTEL_HEADERS: 'Authorization=Bearer k',
      OTEL_RESOURCE_ATTRIBUTES: 'host.name=app',
      OTEL_SERVICE_NAME: 'svc',
    });
  });

  it('phpFpm: adds a first-sorting [pool] section to the existing pool (quoted env[], extension), validated by php-fpm -t, graceful reload', () => {
    const i = intent({
      collector: { host: 'mon', protocol: 'http/protobuf' },
      phpFpm: { version: '8.3', pool: 'shop' },
      health: { tcp: { port: 9000 } },
    });
    expect(i.files.map((f) => f.path)).toEqual(['/etc/php/8.3/fpm/pool.d/00-hostop-shop.conf']);
    const [file] = i.files;
    const lines = file!.content.split('\n');
    expect(lines[0]).toBe('; Managed by hostop (AppInstrumentation/a); local edits are reverted.');
    expect(lines).toContain('[shop]');
    // Nothing of the application's pool (listen, user, pm) is set here: only what hostop adds.
    expect(file!.content).not.toMatch(/^(listen|user|group|pm)\b/m);
    expect(file!.content).toContain('env[OTEL_PHP_AUTOLOAD_ENABLED] = "true"\n');
    expect(file!.content).toContain('env[OTEL_PROPAGATORS] = "baggage,tracecontext"\n');
    expect(file!.content).toContain('env[OTEL_LOGS_EXPORTER] = "none"\n');
    expect(file!.content).toContain(
      'env[OTEL_EXPORTER_OTLP_ENDPOINT] = "http://mon.example.internal:4318"\n',
    );
    expect(file!.content).toContain('php_admin_value[extension] = opentelemetry\n');
    expect(file!.content).not.toContain('auto_prepend_file');
    expect(file!.validate!.argv.slice(-5)).toEqual([
      '{}',
      '00-hostop-shop.conf',
      '/etc/php/8.3/fpm/pool.d',
      '/etc/php/8.3/fpm/php-fpm.conf',
      '/usr/sbin/php-fpm8.3',
    ]);
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

  it('phpFpm bootstrap: a fail-safe auto_prepend_file, checked with php -l; extension off on request', () => {
    const i = intent({
      collector: { host: 'mon', protocol: 'http/protobuf' },
      phpFpm: {
        version: '8.2',
        pool: 'shop',
        extension: false,
        bootstrap: { autoload: '/srv/shop/vendor/autoload.php' },
      },
    });
    // Sorted by path: the bootstrap (fpm/hostop/) before the pool addition (fpm/pool.d/).
    const [bootstrap, pool] = i.files;
    expect(pool!.content).not.toContain('extension');
    expect(pool!.content).toContain(
      'php_admin_value[auto_prepend_file] = /etc/php/8.2/fpm/hostop/shop-otel-bootstrap.php\n',
    );
    expect(bootstrap!.path).toBe('/etc/php/8.2/fpm/hostop/shop-otel-bootstrap.php');
    expect(bootstrap!.content.startsWith('<?php\n// Managed by hostop (AppInstrumentation/a)')).toBe(true);
    expect(bootstrap!.content).toContain("$autoload = '/srv/shop/vendor/autoload.php';");
    expect(bootstrap!.content).toContain('catch (\\Throwable $e)');
    expect(bootstrap!.validate!.argv).toEqual(['/usr/bin/php8.2', '-l', '{}']);
  });

  it('systemd execStart: the drop-in resets ExecStart= and runs the real command under opentelemetry-instrument', () => {
    const spec = (systemd: Record<string, unknown>) => ({
      collector: { host: 'mon' },
      systemd: { unit: 'api', ...systemd },
    });
    const wrapped = intent(spec({ execStart: ['/opt/api/venv/bin/uvicorn', 'app:app', '--port', '8001'] }));
    const lines = wrapped.files[0]!.content.split('\n');
    expect(lines.slice(1, 4)).toEqual([
      '[Service]',
      'ExecStart=',
      'ExecStart="/opt/api/venv/bin/opentelemetry-instrument" "/opt/api/venv/bin/uvicorn" "app:app" "--port" "8001"',
    ]);
    // `$` would be expanded by systemd, `%` is a specifier: both come out literal.
    const odd = intent(
      spec({
        execStart: ['/srv/run', 'a b', '$HOME', '100%', 'say "hi"'],
        instrument: '/usr/local/bin/opentelemetry-instrument',
      }),
    );
    expect(odd.files[0]!.content).toContain(
      'ExecStart="/usr/local/bin/opentelemetry-instrument" "/srv/run" "a b" "$$HOME" "100%%" "say \\"hi\\""\n',
    );
    expect(intent(spec({})).files[0]!.content).not.toContain('ExecStart');
  });

  it.each([
    [{}, '/spec: set exactly one of systemd and phpFpm'],
    [{ ...systemd, phpFpm: { version: '8.2', pool: 'p' } }, '/spec: set exactly one of systemd and phpFpm'],
    [
      { systemd: { unit: 'api', execStart: ['uvicorn', 'app:app'] } },
      '/spec/systemd/execStart/0: must be an absolute path: the launcher execs it, and systemd runs the line without a shell',
    ],
    [
      { ...systemd, env: { APP_TAG: 'a\u{10FFFF}b' } },
      '/spec/env/APP_TAG: systemd ignores a value that is not valid UTF-8 text to it (a NUL, a lone surrogate or a Unicode noncharacter such as U+FFFF)',
    ],
    [
      { systemd: { unit: 'api', instrument: '/usr/local/bin/opentelemetry-instrument' } },
      '/spec/systemd/instrument: only used with execStart; set both or neither',
    ],
    [
      { sdk: 'litellm', systemd: { unit: 'litellm', execStart: ['/usr/bin/litellm'] } },
      '/spec/systemd/execStart: the LiteLLM proxy exports through its own otel callback; do not wrap it in opentelemetry-instrument',
    ],
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
