import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildSnapshot } from '../../../src/core/build-snapshot.js';
import { renderSnapshot } from '../../../src/core/render.js';
import { kindByName } from '../../../src/kinds/registry.js';
import { kindSchemas } from '../../../src/source/crds.js';

/** A problem line equal to `message`; a message ending in ': ' names only the field (schema wording may change). */
function expectProblem(lines: string[], message: string) {
  const found = lines.some((l) => (message.endsWith(': ') ? l.startsWith(message) : l === message));
  expect(found, `${message}\n  not in\n${lines.join('\n')}`).toBe(true);
}

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9i9rPYL74tpLWzE8GhXhB2rE2MnMrA/GhHTlMJLOhS';
const hosts = ['mon', 'tempo-host'].map((name) => ({
  apiVersion: 'hostop.dev/v1alpha1',
  kind: 'Host',
  metadata: { name },
  spec: { address: `${name}.example.internal`, hostKey: KEY },
}));
const collector = (spec: Record<string, unknown>) => ({
  apiVersion: 'hostop.dev/v1alpha1',
  kind: 'OtelCollector',
  metadata: { name: 'otel' },
  spec: { hosts: ['mon'], ...spec },
});
const build = (docs: object[]) =>
  buildSnapshot(
    [{ file: 'test.yaml', text: docs.map((d) => stringify(d)).join('---\n') }],
    kindSchemas(),
    kindByName,
  );
const config = (spec: Record<string, unknown>) => {
  const { snapshot, problems } = build([...hosts, collector(spec)]);
  expect(problems).toEqual([]);
  return renderSnapshot(snapshot!, kindByName).find((i) => i.host.name === 'mon')!.files[0]!.content;
};
const errors = (spec: Record<string, unknown>) =>
  build([...hosts, collector(spec)]).problems.map((p) => `${p.path}: ${p.message}`);

describe('OtelCollector', () => {
  it.each([
    ['0.86.0', 'otlp/tempo', 'otlphttp/logs'],
    ['0.123.0', 'otlp/tempo', 'otlphttp/logs'],
    ['0.143.9', 'otlp/tempo', 'otlphttp/logs'],
    ['0.144.0', 'otlp_grpc/tempo', 'otlp_http/logs'],
    ['0.150.1', 'otlp_grpc/tempo', 'otlp_http/logs'],
    ['1.0.0', 'otlp_grpc/tempo', 'otlp_http/logs'],
  ])('version %s names the OTLP exporters %s and %s', (version, grpc, http) => {
    const text = config({
      version,
      traces: { tempoHost: 'tempo-host' },
      logs: { exporter: 'otlpHttp', endpoint: 'http://loki:3100/otlp' },
    });
    expect(text).toContain(`  ${grpc}:\n    endpoint: tempo-host.example.internal:4417\n`);
    expect(text).toContain(`  ${http}:\n    endpoint: http://loki:3100/otlp\n`);
    expect(text).toContain(`        - ${grpc}\n`);
    const other = grpc.startsWith('otlp_grpc') ? '  otlp/tempo:' : '  otlp_grpc/tempo:';
    expect(text).not.toContain(other);
  });

  it('puts memory_limiter first in every pipeline and binds receivers and health_check to 0.0.0.0', () => {
    const text = config({
      version: '0.123.0',
      resourceAttributes: { 'deployment.environment': 'prod' },
      traces: { tempoHost: 'tempo-host' },
      logs: { exporter: 'debug' },
    });
    const pipelines = text.split('  pipelines:\n')[1]!;
    expect(pipelines.match(/processors:\n\s+- memory_limiter\n\s+- resource\n\s+- batch\n/g)).toHaveLength(3);
    for (const endpoint of ['0.0.0.0:4317', '0.0.0.0:4318', '0.0.0.0:13133', '0.0.0.0:8889']) {
      expect(text).toContain(`endpoint: ${endpoint}\n`);
    }
    expect(text).toContain('resource_to_telemetry_conversion:\n      enabled: true\n');
    expect(text).toContain('  debug:\n    verbosity: basic\n');
  });

  it('reaches Tempo on loopback when it runs on the same host', () => {
    expect(config({ version: '0.123.0', traces: { tempoHost: 'mon' } })).toContain(
      'endpoint: 127.0.0.1:4417\n',
    );
  });

  it('has no traces pipeline or connectors without traces', () => {
    const text = config({ version: '0.123.0' });
    expect(text).not.toContain('traces:');
    expect(text).not.toContain('connectors:');
  });

  it.each([
    [{ version: '0.85.0' }, '/spec/version: hostop renders configs for otelcol-contrib 0.86.0 or newer'],
    [
      { version: '0.123.0', memoryLimiter: { limitPercentage: 50, spikeLimitPercentage: 50 } },
      '/spec/memoryLimiter/spikeLimitPercentage: must be below limitPercentage (the soft limit is limit minus spike)',
    ],
    [
      { version: '0.123.0', prometheus: { port: 4317 } },
      '/spec/otlp/grpcPort: port 4317 is also used by /spec/prometheus/port',
    ],
    [
      { version: '0.123.0', otlp: { httpPort: 13133 } },
      "/spec/otlp/httpPort: port 13133 is the health_check extension's",
    ],
    [
      { version: '0.123.0', logs: { exporter: 'otlpHttp' } },
      '/spec/logs/endpoint: required when logs.exporter is otlpHttp',
    ],
    [
      { version: '0.123.0', logs: { exporter: 'debug', endpoint: 'http://x:1' } },
      '/spec/logs/endpoint: only used with logs.exporter otlpHttp; remove it',
    ],
    [
      { version: '0.123.0', traces: { tempoHost: 'nowhere' } },
      '/spec/traces/tempoHost: unknown host "nowhere": no Host resource has that name',
    ],
    [{ version: '0.123' }, '/spec/version: '],
  ])('rejects %j', (spec, message) => {
    expectProblem(errors(spec), message);
  });
});
