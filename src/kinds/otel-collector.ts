import type {
  FileIntent,
  HostRef,
  IntentPart,
  Resource,
  ResourceRef,
  ServiceIntent,
  Snapshot,
  VersionIntent,
} from '../core/model.js';
import type { OtelCollectorSpec } from '../generated/crd-types.js';
import { loopbackHttp } from './health-check.js';
import { addressFrom, hostPort } from './host-address.js';
import type { KindModule } from './kind.js';
import { managedHeader, toYaml } from './render-output.js';
import { unitName } from './unit-name.js';
import { atLeast } from './version.js';

const CONFIG_PATH = '/etc/otelcol-contrib/config.yaml';
const UNIT = unitName('otelcol-contrib');
/** The health_check extension's port (its default), bound to 0.0.0.0 like the receivers. */
const HEALTH_CHECK_PORT = 13133;
/** The oldest release this renderer is written for: it has the `debug` exporter and both connectors. */
const MIN_VERSION = [0, 86, 0] as const;
/**
 * The packaged unit has `ExecReload=/bin/kill -HUP $MAINPID` only from v0.125.0 (open-telemetry/
 * opentelemetry-collector-releases PR #887, distributions/otelcol-contrib/otelcol-contrib.service). Before it,
 * `systemctl reload otelcol-contrib` fails ("Job type reload is not applicable") and the old config stays live.
 */
const PACKAGED_RELOAD = [0, 125, 0] as const;
/** v0.144.0 renamed the OTLP exporters (`otlp` -> `otlp_grpc`, `otlphttp` -> `otlp_http`); older releases know only the old names. */
const RENAMED_OTLP_EXPORTERS = [0, 144, 0] as const;

/** The connectors that turn spans into metrics: exporters of the traces pipeline, receivers of the metrics one. */
const SPAN_CONNECTORS = ['spanmetrics', 'servicegraph'];

/** Exporter type names as the declared collector version spells them. */
function otlpExporterTypes(version: string): { grpc: string; http: string } {
  return atLeast(version, RENAMED_OTLP_EXPORTERS)
    ? { grpc: 'otlp_grpc', http: 'otlp_http' }
    : { grpc: 'otlp', http: 'otlphttp' };
}

function render(res: Resource<OtelCollectorSpec>, host: HostRef, snapshot: Snapshot): IntentPart {
  const ref = { kind: res.kind, name: res.metadata.name };
  const config = collectorConfig(res.spec, host, snapshot);
  return {
    files: [configFile(res, config, ref)],
    services: [collectorService(res.spec.version, ref)],
    versions: [collectorVersion(res.spec.version, ref)],
  };
}

/** config.yaml as a value. Key order is the file's order: changing it rewrites the file on every host. */
function collectorConfig(
  spec: OtelCollectorSpec,
  host: HostRef,
  snapshot: Snapshot,
): Record<string, unknown> {
  const pipelines = pipelinesOf(spec, host, snapshot);
  return {
    extensions: { health_check: { endpoint: `0.0.0.0:${HEALTH_CHECK_PORT}` } },
    receivers: receiversOf(spec),
    processors: processorsOf(spec),
    ...(hasSpanMetrics(spec) ? { connectors: { spanmetrics: {}, servicegraph: {} } } : {}),
    exporters: Object.fromEntries(pipelines.map((p) => p.exporter)),
    service: {
      extensions: ['health_check'],
      pipelines: Object.fromEntries(pipelines.map((p) => [p.signal, p.pipeline])),
    },
  };
}

function receiversOf(spec: OtelCollectorSpec): Record<string, unknown> {
  return {
    otlp: {
      protocols: {
        // Explicit 0.0.0.0: since v0.104 the receiver would listen on localhost only.
        grpc: { endpoint: `0.0.0.0:${spec.otlp.grpcPort}` },
        http: { endpoint: `0.0.0.0:${spec.otlp.httpPort}` },
      },
    },
  };
}

function hasSpanMetrics(spec: OtelCollectorSpec): boolean {
  return spec.traces?.spanMetrics === true;
}

function hasResourceProcessor(spec: OtelCollectorSpec): boolean {
  return Object.keys(spec.resourceAttributes ?? {}).length > 0;
}

function processorsOf(spec: OtelCollectorSpec): Record<string, unknown> {
  return {
    memory_limiter: {
      check_interval: '1s',
      limit_percentage: spec.memoryLimiter.limitPercentage,
      spike_limit_percentage: spec.memoryLimiter.spikeLimitPercentage,
    },
    // insert, not upsert: a sender's own value (staging app, deployment.environment=staging) wins.
    ...(hasResourceProcessor(spec)
      ? {
          resource: {
            attributes: Object.entries(spec.resourceAttributes ?? {})
              .sort(([a], [b]) => (a < b ? -1 : 1))
              .map(([key, value]) => ({ key, value, action: 'insert' })),
          },
        }
      : {}),
    batch: {},
  };
}

/** One pipeline of `service.pipelines` with the one exporter it brings into `exporters`. */
interface Pipeline {
  signal: 'metrics' | 'traces' | 'logs';
  exporter: [id: string, config: unknown];
  pipeline: { receivers: string[]; processors: string[]; exporters: string[] };
}

/** The pipelines the spec asks for: metrics always, then traces and logs when declared. */
function pipelinesOf(spec: OtelCollectorSpec, host: HostRef, snapshot: Snapshot): Pipeline[] {
  const types = otlpExporterTypes(spec.version);
  const connectors = hasSpanMetrics(spec) ? SPAN_CONNECTORS : [];
  // memory_limiter must come first: it refuses data before anything else spends memory on it.
  const processors = ['memory_limiter', ...(hasResourceProcessor(spec) ? ['resource'] : []), 'batch'];
  const pipelines = [metricsPipeline(spec.prometheus, processors, connectors)];
  if (spec.traces) {
    const address = addressFrom(snapshot, host, spec.traces.tempoHost);
    pipelines.push(
      tracesPipeline(hostPort(address, spec.traces.tempoPort), types.grpc, processors, connectors),
    );
  }
  if (spec.logs) pipelines.push(logsPipeline(spec.logs, types.http, processors));
  return pipelines;
}

function metricsPipeline(
  prometheus: OtelCollectorSpec['prometheus'],
  processors: string[],
  connectors: string[],
): Pipeline {
  const exporter = {
    endpoint: `0.0.0.0:${prometheus.port}`,
    ...(prometheus.namespace ? { namespace: prometheus.namespace } : {}),
    // Resource attributes (host.name, service.name) become labels instead of hiding in target_info.
    resource_to_telemetry_conversion: { enabled: true },
  };
  return {
    signal: 'metrics',
    exporter: ['prometheus', exporter],
    pipeline: { receivers: ['otlp', ...connectors], processors, exporters: ['prometheus'] },
  };
}

function tracesPipeline(
  tempoEndpoint: string,
  grpcType: string,
  processors: string[],
  connectors: string[],
): Pipeline {
  const id = `${grpcType}/tempo`;
  return {
    signal: 'traces',
    exporter: [id, { endpoint: tempoEndpoint, tls: { insecure: true } }],
    pipeline: { receivers: ['otlp'], processors, exporters: [id, ...connectors] },
  };
}

function logsPipeline(
  logs: NonNullable<OtelCollectorSpec['logs']>,
  httpType: string,
  processors: string[],
): Pipeline {
  const id = logs.exporter === 'otlpHttp' ? `${httpType}/logs` : 'debug';
  const exporter = logs.exporter === 'otlpHttp' ? { endpoint: logs.endpoint } : { verbosity: 'basic' };
  return {
    signal: 'logs',
    exporter: [id, exporter],
    pipeline: { receivers: ['otlp'], processors, exporters: [id] },
  };
}

function configFile(res: Resource<OtelCollectorSpec>, config: unknown, ref: ResourceRef): FileIntent {
  return {
    path: CONFIG_PATH,
    content: toYaml(config, managedHeader(res, '#')),
    mode: '0644',
    owner: 'root',
    group: 'root',
    format: 'yaml',
    // A config the collector cannot load makes a reloading collector exit: validate before every swap.
    validate: { argv: ['/usr/bin/otelcol-contrib', 'validate', '--config={}'], timeoutMs: 30_000 },
    notify: [UNIT],
    secrets: [],
    resource: ref,
  };
}

function collectorService(version: string, ref: ResourceRef): ServiceIntent {
  return {
    unit: UNIT,
    state: 'running',
    enabled: true,
    // SIGHUP rebuilds the whole pipeline graph in-process (collector PR #6000), but systemd can send it
    // only through the unit's ExecReload, which the package has from 0.125.0 on: restart before that.
    onChange: atLeast(version, PACKAGED_RELOAD) ? 'reload' : 'restart',
    health: loopbackHttp(HEALTH_CHECK_PORT, '/', 30_000),
    // A reload shuts the service down, extensions included, and starts a new one from the new config
    // (otelcol/collector.go, reloadConfiguration): the new health_check extension answers with a new
    // `upSince` (extension/healthcheckextension). An unchanged upSince means the old config still runs.
    reloadProof: { url: `http://127.0.0.1:${HEALTH_CHECK_PORT}/`, field: 'upSince', timeoutMs: 20_000 },
    resource: ref,
  };
}

function collectorVersion(version: string, ref: ResourceRef): VersionIntent {
  return {
    component: 'otelcol-contrib',
    source: { package: 'otelcol-contrib' },
    version,
    match: 'exact',
    why: 'the exporter names and the reload method',
    resource: ref,
  };
}

function validate(res: Resource<OtelCollectorSpec>): { path: string; message: string }[] {
  const spec = res.spec;
  const problems: { path: string; message: string }[] = [];
  if (!atLeast(spec.version, MIN_VERSION)) {
    problems.push({
      path: '/spec/version',
      message: `hostop renders configs for otelcol-contrib ${MIN_VERSION.join('.')} or newer`,
    });
  }
  if (spec.memoryLimiter.spikeLimitPercentage >= spec.memoryLimiter.limitPercentage) {
    problems.push({
      path: '/spec/memoryLimiter/spikeLimitPercentage',
      message: 'must be below limitPercentage (the soft limit is limit minus spike)',
    });
  }
  const ports: [string, number][] = [
    ['/spec/otlp/grpcPort', spec.otlp.grpcPort],
    ['/spec/otlp/httpPort', spec.otlp.httpPort],
    ['/spec/prometheus/port', spec.prometheus.port],
  ];
  for (const [path, port] of ports) {
    const clash = ports.find(([p, other]) => p !== path && other === port);
    if (clash) problems.push({ path, message: `port ${port} is also used by ${clash[0]}` });
    if (port === HEALTH_CHECK_PORT)
      problems.push({ path, message: `port ${port} is the health_check extension's` });
  }
  if (spec.logs?.exporter === 'otlpHttp' && !spec.logs.endpoint) {
    problems.push({ path: '/spec/logs/endpoint', message: 'required when logs.exporter is otlpHttp' });
  }
  if (spec.logs?.exporter === 'debug' && spec.logs.endpoint) {
    problems.push({
      path: '/spec/logs/endpoint',
      message: 'only used with logs.exporter otlpHttp; remove it',
    });
  }
  return problems;
}

export const otelCollector: KindModule<OtelCollectorSpec> = {
  kind: 'OtelCollector',
  render,
  validate,
  hostReferences: (res) =>
    res.spec.traces ? [{ path: '/spec/traces/tempoHost', host: res.spec.traces.tempoHost }] : [],
};
