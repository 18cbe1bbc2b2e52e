import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { buildSnapshot } from '../../../src/core/build-snapshot.js';
import { renderSnapshot } from '../../../src/core/render.js';
import { kindByName } from '../../../src/kinds/registry.js';
import { kindSchemas } from '../../../src/source/crds.js';
import { hostDoc } from '../../support/documents.js';

const host = (name: string, role: string) => hostDoc(name, {}, { role });
const doc = (kind: string, name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'hostop.dev/v1alpha1',
  kind,
  metadata: { name },
  spec,
});
const collector = (spec: Record<string, unknown> = {}, name = 'otel') =>
  doc('OtelCollector', name, { hosts: ['obs-01'], version: '0.123.0', ...spec });
const claude = (spec: Record<string, unknown>) =>
  doc('ClaudeCodeSettings', 'cc', { hosts: ['app-01'], collector: { host: 'obs-01' }, ...spec });
const app = (spec: Record<string, unknown>) =>
  doc('AppInstrumentation', 'api', {
    hosts: ['app-01'],
    serviceName: 'api',
    collector: { host: 'obs-01' },
    systemd: { unit: 'api.service' },
    ...spec,
  });
const TEMPO = { tempoHost: 'obs-01' };
const LOGS = { exporter: 'debug' };

/** Hosts in hosts.yaml, each collector alone in cN.yaml (so each starts at line 1), the sender in s.yaml. */
function load(collectors: object[], sender: object) {
  const files = [
    { file: 'hosts.yaml', docs: [host('obs-01', 'obs'), host('obs-02', 'obs'), host('app-01', 'app')] },
    ...collectors.map((c, i) => ({ file: `c${i + 1}.yaml`, docs: [c] })),
    { file: 's.yaml', docs: [sender] },
  ];
  return buildSnapshot(
    files.map(({ file, docs }) => ({ file, text: docs.map((d) => stringify(d)).join('---\n') })),
    kindSchemas(),
    kindByName,
  );
}
const problems = (collectors: object[], sender: object) =>
  load(collectors, sender).problems.map((p) => `${p.file}:${p.line}: ${p.message} (at ${p.path})`);

describe('senders are checked against the collector on the host they send to', () => {
  it.each<[string, object[], object]>([
    ['Claude Code metrics to the default collector', [collector()], claude({})],
    [
      'all three signals to a collector with every pipeline',
      [collector({ traces: TEMPO, logs: LOGS })],
      claude({ signals: { metrics: true, logs: true, traces: true } }),
    ],
    ['app traces and metrics over gRPC', [collector({ traces: TEMPO })], app({ signals: { metrics: true } })],
    [
      'app traces over HTTP to the default HTTP port',
      [collector({ traces: TEMPO })],
      app({ collector: { host: 'obs-01', protocol: 'http/protobuf' } }),
    ],
    [
      'explicit ports the collector listens on',
      [collector({ traces: TEMPO, otlp: { grpcPort: 14317, httpPort: 14318 } })],
      app({ collector: { host: 'obs-01', protocol: 'http/json', port: 14318 } }),
    ],
    [
      'a collector chosen by hostSelector',
      [collector({ hosts: undefined, hostSelector: { matchLabels: { role: 'obs' } }, logs: LOGS })],
      claude({ collector: { host: 'obs-02' }, signals: { metrics: true, logs: true } }),
    ],
    [
      'no OtelCollector in the desired state: collectors run outside hostop',
      [],
      claude({ signals: { logs: true } }),
    ],
    ['a suspended sender', [collector()], claude({ suspend: true, signals: { metrics: true, logs: true } })],
    [
      'a suspended collector still counts (it keeps running)',
      [collector({ suspend: true, logs: LOGS })],
      claude({ signals: { metrics: true, logs: true } }),
    ],
  ])('accepts %s', (_, collectors, sender) => {
    expect(load(collectors, sender).problems).toEqual([]);
  });

  it.each<[string, object[], object, string[]]>([
    [
      'Claude Code logs without a logs pipeline',
      [collector()],
      claude({ signals: { metrics: true, logs: true } }),
      [
        's.yaml:12: sends logs to host "obs-01", but OtelCollector/otel (c1.yaml:1) has no logs pipeline: set spec.logs there, or stop sending logs (at /spec/signals/logs)',
      ],
    ],
    [
      'Claude Code traces and logs, neither pipeline there',
      [collector()],
      claude({ signals: { metrics: false, logs: true, traces: true } }),
      [
        's.yaml:12: sends logs to host "obs-01", but OtelCollector/otel (c1.yaml:1) has no logs pipeline: set spec.logs there, or stop sending logs (at /spec/signals/logs)',
        's.yaml:13: sends traces to host "obs-01", but OtelCollector/otel (c1.yaml:1) has no traces pipeline: set spec.traces there, or stop sending traces (at /spec/signals/traces)',
      ],
    ],
    [
      'app traces (the default signal) without a traces pipeline',
      [collector({ logs: LOGS })],
      app({}),
      [
        's.yaml:6: sends traces to host "obs-01", but OtelCollector/otel (c1.yaml:1) has no traces pipeline: set spec.traces there, or stop sending traces (at /spec/signals/traces)',
      ],
    ],
    [
      'LiteLLM (traces only) without a traces pipeline',
      [collector()],
      app({ sdk: 'litellm', signals: { traces: true } }),
      [
        's.yaml:15: sends traces to host "obs-01", but OtelCollector/otel (c1.yaml:1) has no traces pipeline: set spec.traces there, or stop sending traces (at /spec/signals/traces)',
      ],
    ],
    [
      'app logs, where neither of two collectors has a logs pipeline',
      [collector({ traces: TEMPO }), collector({}, 'otel-2')],
      app({ signals: { traces: true, logs: true } }),
      [
        's.yaml:15: sends logs to host "obs-01", but OtelCollector/otel (c1.yaml:1) and OtelCollector/otel-2 (c2.yaml:1) have no logs pipeline: set spec.logs there, or stop sending logs (at /spec/signals/logs)',
      ],
    ],
    [
      'a sender to a host where no collector runs',
      [collector({ traces: TEMPO })],
      app({ collector: { host: 'obs-02' } }),
      [
        's.yaml:10: sends OTLP to host "obs-02", but no OtelCollector runs there: OtelCollector/otel (c1.yaml:1) runs on obs-01; point collector.host at a collector\'s host, or select this host in an OtelCollector (at /spec/collector/host)',
      ],
    ],
    [
      'an explicit gRPC port the collector does not listen on',
      [collector()],
      claude({ collector: { host: 'obs-01', port: 14317 } }),
      [
        's.yaml:10: sends OTLP/gRPC to port 14317 of host "obs-01", but OtelCollector/otel (c1.yaml:1) receives OTLP/gRPC on port 4317: set collector.port to match (at /spec/collector/port)',
      ],
    ],
    [
      'the default HTTP port when the collector moved its HTTP receiver',
      [collector({ traces: TEMPO, otlp: { httpPort: 14318 } })],
      app({ collector: { host: 'obs-01', protocol: 'http/protobuf' } }),
      [
        's.yaml:10: sends OTLP/HTTP to port 4318 (the default) of host "obs-01", but OtelCollector/otel (c1.yaml:1) receives OTLP/HTTP on port 14318: set collector.port to match (at /spec/collector)',
      ],
    ],
  ])('refuses %s', (_, collectors, sender, expected) => {
    expect(problems(collectors, sender)).toEqual(expected);
  });

  it('leaves an unknown collector host to the reference check', () => {
    expect(problems([collector()], claude({ collector: { host: 'ghost' } }))).toEqual([
      's.yaml:9: unknown host "ghost": no Host resource has that name (at /spec/collector/host)',
    ]);
  });
});

describe('what the check takes a collector to receive', () => {
  // It must be what the collector's config really has: compare with its render, signal by signal and port by port.
  const SIGNALS = ['metrics', 'logs', 'traces'] as const;
  it.each<[Record<string, unknown>]>([
    [{}],
    [{ traces: TEMPO }],
    [{ traces: { ...TEMPO, spanMetrics: true } }],
    [{ logs: LOGS }],
    [{ logs: { exporter: 'otlpHttp', endpoint: 'http://loki:3100/otlp' }, traces: TEMPO }],
    [{ otlp: { grpcPort: 5317, httpPort: 5318 }, version: '0.144.0' }],
  ])('is the rendered config for %j', (spec) => {
    const alone = load(
      [collector(spec)],
      doc('File', 'f', { hosts: ['app-01'], path: '/etc/f', content: '' }),
    );
    expect(alone.problems).toEqual([]);
    const file = renderSnapshot(alone.snapshot!, kindByName).find((i) => i.host.name === 'obs-01')!.files[0]!;
    const config = parse(file.content) as {
      receivers: { otlp: { protocols: Record<'grpc' | 'http', { endpoint: string }> } };
      service: { pipelines: Record<string, { receivers: string[] }> };
    };
    const fromOtlp = new Set(
      Object.entries(config.service.pipelines)
        .filter(([, p]) => p.receivers.includes('otlp'))
        .map(([id]) => id.split('/')[0]),
    );
    const port = (p: 'grpc' | 'http') =>
      Number(config.receivers.otlp.protocols[p].endpoint.split(':').at(-1));
    const paths = (sender: object) => load([collector(spec)], sender).problems.map((p) => p.path);
    for (const signal of SIGNALS) {
      const only = { metrics: false, logs: false, traces: false, [signal]: true };
      const sender = claude({ signals: only, collector: { host: 'obs-01', port: port('grpc') } });
      expect(paths(sender), signal).toEqual(fromOtlp.has(signal) ? [] : [`/spec/signals/${signal}`]);
    }
    for (const [protocol, p] of [
      ['grpc', port('grpc')],
      ['http/protobuf', port('http')],
    ] as const) {
      expect(paths(claude({ collector: { host: 'obs-01', protocol, port: p } })), protocol).toEqual([]);
      expect(paths(claude({ collector: { host: 'obs-01', protocol, port: p + 1 } })), protocol).toEqual([
        '/spec/collector/port',
      ]);
    }
  });
});
