import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildSnapshot } from '../../../src/core/build-snapshot.js';
import { renderSnapshot } from '../../../src/core/render.js';
import { kindByName } from '../../../src/kinds/registry.js';
import { kindSchemas } from '../../../src/source/crds.js';
import { expectProblem, hostDoc } from '../../support/documents.js';

const hosts = [
  hostDoc('mon', {}, { role: 'monitoring' }),
  hostDoc('agent-1', { address: '10.0.0.21' }, { role: 'agent' }),
];
const settings = (spec: Record<string, unknown>) => ({
  apiVersion: 'hostop.dev/v1alpha1',
  kind: 'ClaudeCodeSettings',
  metadata: { name: 'cc' },
  spec: { hostSelector: { matchLabels: { role: 'agent' } }, collector: { host: 'mon' }, ...spec },
});
const build = (spec: Record<string, unknown>) =>
  buildSnapshot(
    [{ file: 't.yaml', text: [...hosts, settings(spec)].map((d) => stringify(d)).join('---\n') }],
    kindSchemas(),
    kindByName,
  );
function intent(spec: Record<string, unknown>) {
  const { snapshot, problems } = build(spec);
  expect(problems).toEqual([]);
  return renderSnapshot(snapshot!, kindByName).find((i) => i.host.name === 'agent-1')!;
}
const env = (spec: Record<string, unknown>) =>
  (JSON.parse(intent(spec).files[0]!.content) as { env: Record<string, unknown> }).env;

describe('ClaudeCodeSettings', () => {
  it.each([
    ['grpc', undefined, 'http://mon.example.internal:4317', 4317],
    ['http/protobuf', undefined, 'http://mon.example.internal:4318', 4318],
    ['http/json', undefined, 'http://mon.example.internal:4318', 4318],
    ['grpc', 14317, 'http://mon.example.internal:14317', 14317],
  ])(
    'protocol %s (port %s) -> endpoint %s, reachability check on %i',
    (protocol, port, endpoint, checkPort) => {
      const i = intent({ collector: { host: 'mon', protocol, ...(port ? { port } : {}) } });
      const e = JSON.parse(i.files[0]!.content).env;
      expect(e.OTEL_EXPORTER_OTLP_PROTOCOL).toBe(protocol);
      expect(e.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(endpoint);
      expect(i.checks).toEqual([
        {
          name: 'otlp-reachable/cc',
          type: 'tcp',
          host: 'mon.example.internal',
          port: checkPort,
          timeoutMs: 5000,
          resource: { kind: 'ClaudeCodeSettings', name: 'cc' },
        },
      ]);
    },
  );

  it('writes a drop-in whose env values are all strings, telemetry on, host.name first', () => {
    const i = intent({ metricExportIntervalMs: 10000, env: { OTEL_METRICS_INCLUDE_SESSION_ID: 'true' } });
    expect(i.files[0]!.path).toBe('/etc/claude-code/managed-settings.d/10-telemetry.json');
    const e = JSON.parse(i.files[0]!.content).env as Record<string, unknown>;
    expect(Object.values(e).every((v) => typeof v === 'string')).toBe(true);
    expect(e).toEqual({
      CLAUDE_CODE_ENABLE_TELEMETRY: '1',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://mon.example.internal:4317',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'cumulative',
      OTEL_METRIC_EXPORT_INTERVAL: '10000',
      OTEL_METRICS_INCLUDE_SESSION_ID: 'true',
      OTEL_RESOURCE_ATTRIBUTES: 'host.name=agent-1',
    });
    expect(i.services).toEqual([]);
  });

  it.each([
    [{ 'team.id': 'platform' }, 'host.name=agent-1,team.id=platform'],
    [{ b: '1', a: '2' }, 'host.name=agent-1,a=2,b=1'],
    [{ team: 'a b' }, 'host.name=agent-1,team=a%20b'],
    [{ team: 'x,y=z' }, 'host.name=agent-1,team=x%2Cy%3Dz'],
    [{ team: '100%;"q"' }, 'host.name=agent-1,team=100%25%3B%22q%22'],
    [{ team: 'zürich' }, 'host.name=agent-1,team=z%C3%BCrich'],
  ])('resource attributes %j -> %s', (attrs, value) => {
    expect(env({ resourceAttributes: attrs }).OTEL_RESOURCE_ATTRIBUTES).toBe(value);
  });

  it('turns on exactly the chosen signals (traces need the beta switch)', () => {
    const e = env({ signals: { metrics: false, logs: true, traces: true } });
    expect(e.OTEL_METRICS_EXPORTER).toBeUndefined();
    expect(e.OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE).toBeUndefined();
    expect(e.OTEL_LOGS_EXPORTER).toBe('otlp');
    expect(e.OTEL_TRACES_EXPORTER).toBe('otlp');
    expect(e.CLAUDE_CODE_ENHANCED_TELEMETRY_BETA).toBe('1');
  });

  // The collector's prometheus exporter only adds a delta to its total when the point starts where the last one
  // ended: Claude Code's default delta undercounts after idle gaps, so metrics are always cumulative.
  it.each([
    [{}, 'cumulative'],
    [{ signals: { metrics: true, logs: true } }, 'cumulative'],
    [{ signals: { metrics: false, logs: true } }, undefined],
  ])('signals %j -> metrics temporality %s', (spec, temporality) => {
    expect(env(spec).OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE).toBe(temporality);
  });

  it.each([
    [{ env: { OTEL_METRICS_INCLUDE_SESSION_ID: 'true' } }],
    [{ env: { OTEL_METRICS_INCLUDE_SESSION_ID: '1' } }],
    [{ env: { OTEL_METRICS_INCLUDE_SESSION_ID: 'false' }, signals: { metrics: false, logs: true } }],
  ])('accepts session.id settings that keep one series per session: %j', (spec) => {
    expect(build(spec).problems).toEqual([]);
  });

  it('puts headers in OTEL_EXPORTER_OTLP_HEADERS and lists their values as secrets', () => {
    const i = intent({ headers: { 'X-B': 'b"2', Authorization: 'Bearer t1' } });
    expect(JSON.parse(i.files[0]!.content).env.OTEL_EXPORTER_OTLP_HEADERS).toBe(
      'Authorization=Bearer t1,X-B=b"2',
    );
    expect(i.files[0]!.secrets).toEqual(['Bearer t1', 'b"2', 'b\\"2']);
    // The JSON-escaped form is what is in the file.
    expect(i.files[0]!.content).toContain('b\\"2');
  });

  it.each([
    [{ signals: { metrics: false } }, '/spec/signals: enable at least one signal, or delete the resource'],
    [
      { resourceAttributes: { 'host.name': 'x' } },
      '/spec/resourceAttributes/host.name: hostop sets host.name to the Host name; remove it',
    ],
    [
      { resourceAttributes: { 'bad key': 'x' } },
      '/spec/resourceAttributes/bad key: "bad key" is not a valid resource attribute key (^[A-Za-z0-9._-]+$)',
    ],
    [{ headers: { 'X/Y': 'v' } }, '/spec/headers/X~1Y: "X/Y" is not a valid header name (^[A-Za-z0-9-]+$)'],
    [{ headers: { A: 'x,y' } }, '/spec/headers/A: '],
    [
      { env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://elsewhere:4317' } },
      '/spec/env/OTEL_EXPORTER_OTLP_ENDPOINT: OTEL_EXPORTER_OTLP_ENDPOINT is derived from the typed fields (collector, signals, headers, ...); set it there',
    ],
    [
      { env: { OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'delta' } },
      '/spec/env/OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE is always cumulative (a delta total in the collector is lost and misread); remove it',
    ],
    ...['false', '0', 'no', ''].map((value): [Record<string, unknown>, string] => [
      { env: { OTEL_METRICS_INCLUDE_SESSION_ID: value } },
      '/spec/env/OTEL_METRICS_INCLUDE_SESSION_ID: metrics are cumulative, so each Claude Code session needs its own series: OTEL_METRICS_INCLUDE_SESSION_ID must stay true (or be removed); without session.id the sessions of a host write one series and increase() counts every switch between them as a counter reset',
    ]),
    [{ env: { N: 1 } }, '/spec/env/N: must be string'],
    [{ dropInName: '.hidden.json' }, '/spec/dropInName: '],
    [
      { collector: { host: 'ghost' } },
      '/spec/collector/host: unknown host "ghost": no Host resource has that name',
    ],
  ])('rejects %j', (spec, message) => {
    expectProblem(
      build(spec).problems.map((p) => `${p.path}: ${p.message}`),
      message,
    );
  });
});
