import type { FileIntent, HostRef, IntentPart, Resource, ServiceIntent, Snapshot } from '../core/model.js';
import type { AppInstrumentationSpec } from '../generated/crd-types.js';
import { healthCheck, healthProblems } from './health-check.js';
import type { KindModule } from './kind.js';
import {
  ATTRIBUTE_KEY,
  type CollectorTarget,
  ENV_NAME,
  HEADER_NAME,
  collectorTarget,
  headersValue,
  keyProblems,
  resourceAttributesValue,
  sortedEntries,
} from './otlp-env.js';
import {
  UNSAFE_POOL_VALUE,
  bootstrapFile,
  bootstrapPath,
  fpmUnit,
  poolAddition,
  poolAdditionPath,
  poolValidator,
} from './php-fpm-pool.js';
import { managedHeader, secretForms } from './render-output.js';
import { environmentDropIn, escapeQuoted, systemdText } from './systemd-drop-in.js';
import { unitName } from './unit-name.js';

type Problem = { path: string; message: string };

/** The LiteLLM proxy's config when spec.litellm.config is not set (the CRD's default). */
const LITELLM_CONFIG = '/etc/litellm/config.yaml';

/** Variables derived from typed fields, for either sdk; `spec.env` may not set them. */
const DERIVED = new Set([
  'OTEL_SERVICE_NAME',
  'OTEL_TRACES_EXPORTER',
  'OTEL_METRICS_EXPORTER',
  'OTEL_LOGS_EXPORTER',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_PHP_AUTOLOAD_ENABLED',
  'OTEL_PROPAGATORS',
  'OTEL_EXPORTER',
  'OTEL_ENDPOINT',
  'OTEL_HEADERS',
  'OTEL_ENVIRONMENT_NAME',
]);

function hasHeaders(spec: AppInstrumentationSpec): boolean {
  return Object.keys(spec.headers ?? {}).length > 0;
}

/** Standard OTEL_* for the OpenTelemetry SDKs (Python's opentelemetry-instrument, PHP, Node, Java). */
function otelEnv(
  spec: AppInstrumentationSpec,
  host: HostRef,
  target: CollectorTarget,
): Record<string, string> {
  // Every exporter explicit: the Python distro defaults all three to otlp, and a collector without a logs
  // pipeline would refuse the logs.
  const on = (enabled: boolean) => (enabled ? 'otlp' : 'none');
  const env: Record<string, string> = {
    OTEL_SERVICE_NAME: spec.serviceName,
    OTEL_TRACES_EXPORTER: on(spec.signals.traces),
    OTEL_METRICS_EXPORTER: on(spec.signals.metrics),
    OTEL_LOGS_EXPORTER: on(spec.signals.logs),
    OTEL_EXPORTER_OTLP_PROTOCOL: spec.collector.protocol,
    OTEL_EXPORTER_OTLP_ENDPOINT: target.baseUrl,
    OTEL_RESOURCE_ATTRIBUTES: resourceAttributesValue([
      ['host.name', host.name],
      ...(spec.environment ? [['deployment.environment', spec.environment] as [string, string]] : []),
      ...sortedEntries(spec.resourceAttributes),
    ]),
  };
  if (hasHeaders(spec)) env.OTEL_EXPORTER_OTLP_HEADERS = headersValue(spec.headers!);
  if (spec.phpFpm) {
    // The PHP SDK does nothing unless autoloading is switched on.
    env.OTEL_PHP_AUTOLOAD_ENABLED = 'true';
    env.OTEL_PROPAGATORS = 'baggage,tracecontext';
  }
  return env;
}

/** The LiteLLM proxy's otel callback reads its own names and exports traces only. */
function litellmEnv(
  spec: AppInstrumentationSpec,
  host: HostRef,
  target: CollectorTarget,
): Record<string, string> {
  const grpc = spec.collector.protocol === 'grpc';
  const env: Record<string, string> = {
    OTEL_EXPORTER: grpc ? 'otlp_grpc' : 'otlp_http',
    // The HTTP span exporter takes the endpoint as given by older LiteLLM releases: spell out /v1/traces
    // (newer releases keep a path that is already there).
    OTEL_ENDPOINT: grpc ? target.baseUrl : `${target.baseUrl}/v1/traces`,
    OTEL_SERVICE_NAME: spec.serviceName,
    // LiteLLM merges OTEL_RESOURCE_ATTRIBUTES over its own resource; deployment.environment comes from
    // OTEL_ENVIRONMENT_NAME, so it is not repeated here (it would win).
    OTEL_RESOURCE_ATTRIBUTES: resourceAttributesValue([
      ['host.name', host.name],
      ...sortedEntries(spec.resourceAttributes),
    ]),
  };
  if (spec.environment) env.OTEL_ENVIRONMENT_NAME = spec.environment;
  if (hasHeaders(spec)) env.OTEL_HEADERS = headersValue(spec.headers!);
  return env;
}

function appEnv(
  res: Resource<AppInstrumentationSpec>,
  host: HostRef,
  snapshot: Snapshot,
): [string, string][] {
  const target = collectorTarget(snapshot, host, res.spec.collector);
  const derived =
    res.spec.sdk === 'litellm' ? litellmEnv(res.spec, host, target) : otelEnv(res.spec, host, target);
  return sortedEntries({ ...(res.spec.env ?? {}), ...derived });
}

function render(res: Resource<AppInstrumentationSpec>, host: HostRef, snapshot: Snapshot): IntentPart {
  const env = appEnv(res, host, snapshot);
  const headerValues = [...new Set(Object.values(res.spec.headers ?? {}).filter((v) => v.length > 0))].sort();
  return res.spec.phpFpm
    ? phpFpmPart(res, env, secretForms(headerValues))
    : systemdPart(res, env, headerValues);
}

/** hostop's addition to the application's own pool, the bootstrap it names, and a graceful reload. */
function phpFpmPart(
  res: Resource<AppInstrumentationSpec>,
  env: [string, string][],
  secrets: string[],
): IntentPart {
  const spec = res.spec.phpFpm!;
  const ref = { kind: res.kind, name: res.metadata.name };
  const unit = fpmUnit(spec);
  const health = healthCheck(res.spec.health);
  const base = {
    mode: '0644',
    owner: 'root',
    group: 'root',
    format: 'text' as const,
    notify: [unit],
    resource: ref,
  };
  const files: FileIntent[] = [
    {
      ...base,
      path: poolAdditionPath(spec),
      content: poolAddition(managedHeader(res, ';'), spec, env),
      // php-fpm refuses the whole configuration (and a reload would stop it) for one bad line: test it first.
      validate: { argv: poolValidator(spec), timeoutMs: 30_000 },
      secrets,
    },
  ];
  if (spec.bootstrap) {
    files.push({
      ...base,
      path: bootstrapPath(spec),
      content: bootstrapFile(managedHeader(res, '//'), spec),
      validate: { argv: [`/usr/bin/php${spec.version}`, '-l', '{}'], timeoutMs: 30_000 },
      secrets: [],
    });
  }
  // A graceful reload (SIGUSR2: Debian's unit ExecReload) re-reads the pools without dropping requests.
  const service: ServiceIntent = { unit, onChange: 'reload', ...(health ? { health } : {}), resource: ref };
  return { files, services: [service] };
}

/** A drop-in with the environment and, when the real command is named, ExecStart wrapped by the launcher. */
function systemdPart(
  res: Resource<AppInstrumentationSpec>,
  env: [string, string][],
  headerValues: string[],
): IntentPart {
  const spec = res.spec.systemd!;
  const ref = { kind: res.kind, name: res.metadata.name };
  const unit = unitName(spec.unit);
  const health = healthCheck(res.spec.health);
  // As written in the drop-in, and raw: systemd, the service and a validator may print the value unescaped.
  const secrets = secretForms([...headerValues, ...headerValues.map(escapeQuoted)]);
  const exec = spec.execStart
    ? [instrumentPath(spec.execStart, spec.instrument), ...spec.execStart]
    : undefined;
  const file: FileIntent = {
    path: `/etc/systemd/system/${unit}.d/${spec.dropInName}`,
    content: environmentDropIn(managedHeader(res, '#'), env, exec),
    // With headers (tokens) in it, only root reads the drop-in.
    mode: secrets.length > 0 ? '0600' : '0644',
    owner: 'root',
    group: 'root',
    format: 'text',
    notify: [unit],
    daemonReload: true,
    secrets,
    resource: ref,
  };
  // A process reads its environment once, at start.
  const service: ServiceIntent = { unit, onChange: 'restart', ...(health ? { health } : {}), resource: ref };
  return {
    files: [file, ...(res.spec.sdk === 'litellm' ? [litellmCallback(res, unit)] : [])],
    services: [service],
  };
}

/**
 * LiteLLM sends spans only when its config lists the otel callback (litellm_settings: callbacks: ["otel"];
 * litellm/proxy/proxy_server.py load_config, docs.litellm.ai observability/opentelemetry_integration); no
 * environment variable turns it on, and an `include:` of the user's config would replace a litellm_settings of
 * ours. So hostop adds the one item to the proxy's own config and owns nothing else of that file.
 */
function litellmCallback(res: Resource<AppInstrumentationSpec>, unit: string): FileIntent {
  return {
    path: res.spec.litellm?.config ?? LITELLM_CONFIG,
    content: '',
    mode: '0644',
    owner: 'root',
    group: 'root',
    format: 'yaml',
    notify: [unit],
    secrets: [],
    merge: [{ path: ['litellm_settings', 'callbacks'], items: ['otel'] }],
    resource: { kind: res.kind, name: res.metadata.name },
  };
}

/** The launcher: given, or opentelemetry-instrument beside the command (the same virtualenv's bin/). */
function instrumentPath(execStart: string[], instrument: string | undefined): string {
  if (instrument) return instrument;
  const program = execStart[0]!;
  return `${program.slice(0, program.lastIndexOf('/'))}/opentelemetry-instrument`;
}

function validate(res: Resource<AppInstrumentationSpec>): Problem[] {
  const spec = res.spec;
  const problems: Problem[] = [
    ...keyProblems(
      spec.resourceAttributes,
      ATTRIBUTE_KEY,
      '/spec/resourceAttributes',
      'resource attribute key',
    ),
    ...keyProblems(spec.headers, HEADER_NAME, '/spec/headers', 'header name'),
    ...keyProblems(spec.env, ENV_NAME, '/spec/env', 'environment variable name'),
    ...healthProblems(spec.health, '/spec/health'),
  ];
  if ((spec.systemd === undefined) === (spec.phpFpm === undefined)) {
    problems.push({ path: '/spec', message: 'set exactly one of systemd and phpFpm' });
  }
  for (const key of Object.keys(spec.env ?? {}).filter((k) => DERIVED.has(k))) {
    problems.push({
      path: `/spec/env/${key}`,
      message: `${key} is derived from the typed fields; set it there`,
    });
  }
  for (const key of ['host.name', 'deployment.environment']) {
    if (spec.resourceAttributes && key in spec.resourceAttributes) {
      problems.push({
        path: `/spec/resourceAttributes/${key}`,
        message:
          key === 'host.name' ? 'hostop sets host.name to the Host name; remove it' : 'use spec.environment',
      });
    }
  }
  const exec = spec.systemd?.execStart;
  if (exec && !exec[0]!.startsWith('/')) {
    problems.push({
      path: '/spec/systemd/execStart/0',
      message: 'must be an absolute path: the launcher execs it, and systemd runs the line without a shell',
    });
  }
  if (spec.systemd?.instrument && !exec) {
    problems.push({
      path: '/spec/systemd/instrument',
      message: 'only used with execStart; set both or neither',
    });
  }
  if (spec.sdk === 'litellm') {
    if (exec) {
      problems.push({
        path: '/spec/systemd/execStart',
        message:
          'the LiteLLM proxy exports through its own otel callback; do not wrap it in opentelemetry-instrument',
      });
    }
    if (spec.signals.metrics || spec.signals.logs || !spec.signals.traces) {
      problems.push({
        path: '/spec/signals',
        message: 'the LiteLLM otel callback exports traces only: traces true, metrics and logs false',
      });
    }
    if (spec.collector.protocol === 'http/json') {
      problems.push({
        path: '/spec/collector/protocol',
        message: 'LiteLLM exports grpc (otlp_grpc) or http/protobuf (otlp_http)',
      });
    }
    if (spec.phpFpm)
      problems.push({ path: '/spec/sdk', message: 'a php-fpm pool runs the PHP SDK: use sdk otel' });
  } else if (spec.litellm) {
    problems.push({ path: '/spec/litellm', message: 'only used with sdk litellm' });
  }
  if (spec.sdk !== 'litellm' && !spec.signals.traces && !spec.signals.metrics && !spec.signals.logs) {
    problems.push({ path: '/spec/signals', message: 'enable at least one signal, or delete the resource' });
  }
  const values: [string, string][] = [
    ...sortedEntries(spec.headers).map(([k, v]): [string, string] => [`/spec/headers/${k}`, v]),
    ...sortedEntries(spec.env).map(([k, v]): [string, string] => [`/spec/env/${k}`, v]),
  ];
  if (spec.phpFpm) {
    for (const [path] of values.filter(([, v]) => UNSAFE_POOL_VALUE.test(v))) {
      problems.push({ path, message: 'a php-fpm env[] value cannot contain ", \\, $ or control characters' });
    }
  } else {
    const args = (exec ?? []).map((a, i): [string, string] => [`/spec/systemd/execStart/${i}`, a]);
    for (const [path] of [...values, ...args].filter(([, v]) => !systemdText(v))) {
      problems.push({
        path,
        message:
          'systemd ignores a value that is not valid UTF-8 text to it (a NUL, a lone surrogate or a Unicode noncharacter such as U+FFFF)',
      });
    }
  }
  return problems;
}

export const appInstrumentation: KindModule<AppInstrumentationSpec> = {
  kind: 'AppInstrumentation',
  render,
  validate,
  hostReferences: (res) => [{ path: '/spec/collector/host', host: res.spec.collector.host }],
};
