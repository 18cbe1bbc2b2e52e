import type { HostRef, IntentPart, Resource, Snapshot } from '../core/model.js';
import type { ClaudeCodeSettingsSpec } from '../generated/crd-types.js';
import type { KindModule } from './kind.js';
import {
  ATTRIBUTE_KEY,
  ENV_NAME,
  HEADER_NAME,
  collectorTarget,
  headersValue,
  keyProblems,
  resourceAttributesValue,
  sortedEntries,
} from './otlp-env.js';
import { secretForms, toJson } from './render-output.js';

const DROP_IN_DIR = '/etc/claude-code/managed-settings.d';

const TEMPORALITY = 'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE';
const SESSION_ID = 'OTEL_METRICS_INCLUDE_SESSION_ID';

/** Variables this kind derives from typed fields (or always sets); `spec.env` may not set them. */
const DERIVED = [
  'CLAUDE_CODE_ENABLE_TELEMETRY',
  'CLAUDE_CODE_ENHANCED_TELEMETRY_BETA',
  'OTEL_METRICS_EXPORTER',
  'OTEL_LOGS_EXPORTER',
  'OTEL_TRACES_EXPORTER',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_METRIC_EXPORT_INTERVAL',
  'OTEL_RESOURCE_ATTRIBUTES',
  TEMPORALITY,
];

/** The managed `env` block. Every value is a string: Claude Code rejects a settings file with other types. */
function settingsEnv(spec: ClaudeCodeSettingsSpec, host: HostRef, endpoint: string): Record<string, string> {
  const env: Record<string, string> = { ...(spec.env ?? {}) };
  env.CLAUDE_CODE_ENABLE_TELEMETRY = '1';
  if (spec.signals.metrics) {
    env.OTEL_METRICS_EXPORTER = 'otlp';
    // Claude Code exports delta by default (https://code.claude.com/docs/en/monitoring-usage, "default: delta").
    // The collector's prometheus exporter adds a monotonic delta point to the running total only when the point's
    // start time equals the stored point's time, and otherwise stores the delta as the new total; a series idle
    // past metric_expiration starts again from one delta (contrib exporter/prometheusexporter/accumulator.go,
    // accumulateSum and Collect). Either way increase() undercounts. Cumulative keeps the total in the Claude Code
    // process that owns it: it survives the collector reloads and restarts hostop itself performs (a
    // deltatocumulative processor would lose its state on each) and needs nothing from the collector, whatever
    // its version. It needs one writer per series: session.id stays on (validate).
    env[TEMPORALITY] = 'cumulative';
  }
  if (spec.signals.logs) env.OTEL_LOGS_EXPORTER = 'otlp';
  if (spec.signals.traces) {
    env.OTEL_TRACES_EXPORTER = 'otlp';
    env.CLAUDE_CODE_ENHANCED_TELEMETRY_BETA = '1';
  }
  // Always explicit: Claude Code may have no default protocol.
  env.OTEL_EXPORTER_OTLP_PROTOCOL = spec.collector.protocol;
  env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
  if (spec.headers && Object.keys(spec.headers).length > 0)
    env.OTEL_EXPORTER_OTLP_HEADERS = headersValue(spec.headers);
  if (spec.metricExportIntervalMs !== undefined)
    env.OTEL_METRIC_EXPORT_INTERVAL = String(spec.metricExportIntervalMs);
  // Claude Code sets no host.name of its own; without it every agent host looks the same in Prometheus.
  env.OTEL_RESOURCE_ATTRIBUTES = resourceAttributesValue([
    ['host.name', host.name],
    ...sortedEntries(spec.resourceAttributes),
  ]);
  return env;
}

/** The first Claude Code release that reads managed-settings.d/. */
const DROP_IN_SINCE = '2.1.83';

function render(res: Resource<ClaudeCodeSettingsSpec>, host: HostRef, snapshot: Snapshot): IntentPart {
  const ref = { kind: res.kind, name: res.metadata.name };
  const target = collectorTarget(snapshot, host, res.spec.collector);
  return {
    files: [
      {
        path: `${DROP_IN_DIR}/${res.spec.dropInName}`,
        content: toJson({ env: settingsEnv(res.spec, host, target.baseUrl) }),
        // Every user who runs Claude Code reads it, headers included: that is how managed settings work.
        mode: '0644',
        owner: 'root',
        group: 'root',
        format: 'json',
        notify: [],
        secrets: secretForms(Object.values(res.spec.headers ?? {})),
        resource: ref,
      },
    ],
    // managed-settings.d/ is read from 2.1.83 on (anthropics/claude-code CHANGELOG.md, 2.1.83: "Added
    // managed-settings.d/ drop-in directory alongside managed-settings.json"); an older CLI ignores the drop-in.
    versions: [
      {
        component: 'claude',
        source: { program: res.spec.claudeBinary },
        version: DROP_IN_SINCE,
        match: 'minimum',
        why: 'whether managed-settings.d/ is read at all',
        resource: ref,
      },
    ],
    checks: [
      {
        name: `otlp-reachable/${res.metadata.name}`,
        type: 'tcp',
        host: target.address,
        port: target.port,
        timeoutMs: 5_000,
        resource: ref,
      },
    ],
  };
}

function validate(res: Resource<ClaudeCodeSettingsSpec>): { path: string; message: string }[] {
  const spec = res.spec;
  const problems = [
    ...keyProblems(
      spec.resourceAttributes,
      ATTRIBUTE_KEY,
      '/spec/resourceAttributes',
      'resource attribute key',
    ),
    ...keyProblems(spec.headers, HEADER_NAME, '/spec/headers', 'header name'),
    ...keyProblems(spec.env, ENV_NAME, '/spec/env', 'environment variable name'),
  ];
  if (!spec.signals.metrics && !spec.signals.logs && !spec.signals.traces) {
    problems.push({ path: '/spec/signals', message: 'enable at least one signal, or delete the resource' });
  }
  if (spec.resourceAttributes && 'host.name' in spec.resourceAttributes) {
    problems.push({
      path: '/spec/resourceAttributes/host.name',
      message: 'hostop sets host.name to the Host name; remove it',
    });
  }
  for (const key of Object.keys(spec.env ?? {}).filter((k) => DERIVED.includes(k))) {
    problems.push({
      path: `/spec/env/${key}`,
      message:
        key === TEMPORALITY
          ? `${key} is always cumulative (a delta total in the collector is lost and misread); remove it`
          : `${key} is derived from the typed fields (collector, signals, headers, ...); set it there`,
    });
  }
  const sessionId = spec.env?.[SESSION_ID];
  if (spec.signals.metrics && sessionId !== undefined && !/^(true|1)$/i.test(sessionId)) {
    // Without session.id, every Claude Code process on a host writes the same series; with cumulative totals
    // Prometheus sees one counter jumping between them, takes each drop for a reset and increase() explodes.
    problems.push({
      path: `/spec/env/${SESSION_ID}`,
      message:
        `metrics are cumulative, so each Claude Code session needs its own series: ${SESSION_ID} must stay ` +
        'true (or be removed); without session.id the sessions of a host write one series and increase() ' +
        'counts every switch between them as a counter reset',
    });
  }
  return problems;
}

export const claudeCodeSettings: KindModule<ClaudeCodeSettingsSpec> = {
  kind: 'ClaudeCodeSettings',
  render,
  validate,
  hostReferences: (res) => [{ path: '/spec/collector/host', host: res.spec.collector.host }],
};
