import type {
  AppInstrumentationSpec,
  ClaudeCodeSettingsSpec,
  OtelCollectorSpec,
} from '../generated/crd-types.js';
import type { Problem, Resource, Snapshot } from './model.js';
import { type HostSelection, selectHosts } from './selector.js';

type Signal = 'metrics' | 'logs' | 'traces';
const SIGNALS: readonly Signal[] = ['metrics', 'logs', 'traces'];

/** Where one sender resource sends OTLP, and which signals. */
interface Route {
  host: string;
  protocol: 'grpc' | 'http/protobuf' | 'http/json';
  /** The port the sender is given; undefined means the protocol's default. */
  port?: number;
  signals: Signal[];
}

/** What an OtelCollector receives: its OTLP ports and the signals it has a pipeline for. */
interface Receiver {
  grpcPort: number;
  httpPort: number;
  pipelines: Signal[];
}

type Found = { path: string; message: string };

/** The OTLP route of a sender kind, or undefined for a resource that sends nothing. */
function routeOf(res: Resource): Route | undefined {
  if (res.kind === 'ClaudeCodeSettings') {
    const spec = res.spec as unknown as ClaudeCodeSettingsSpec;
    return { ...spec.collector, signals: SIGNALS.filter((s) => spec.signals[s]) };
  }
  if (res.kind === 'AppInstrumentation') {
    const spec = res.spec as unknown as AppInstrumentationSpec;
    // The LiteLLM otel callback exports traces only (its validate() refuses other signals).
    const signals = spec.sdk === 'litellm' ? ['traces' as const] : SIGNALS.filter((s) => spec.signals[s]);
    return { ...spec.collector, signals };
  }
  return undefined;
}

/**
 * What an OtelCollector's rendered config receives (src/kinds/otel-collector.ts, render): the OTLP receiver on
 * both ports, a metrics pipeline always, a traces pipeline only with spec.traces, a logs pipeline only with
 * spec.logs. The OTLP receiver serves a signal only when a pipeline takes it from the receiver: the others are
 * never registered, so a sender's export of them fails (open-telemetry/opentelemetry-collector
 * receiver/otlpreceiver/otlp.go, `if r.nextLogs != nil { plogotlp.RegisterGRPCServer(...) }`).
 */
function receiverOf(collector: Resource): Receiver {
  const spec = collector.spec as unknown as OtelCollectorSpec;
  return {
    grpcPort: spec.otlp.grpcPort,
    httpPort: spec.otlp.httpPort,
    pipelines: SIGNALS.filter((s) => s === 'metrics' || spec[s] !== undefined),
  };
}

/** The collector's OTLP ports: gRPC 4317, HTTP 4318 (what an SDK uses when given no port). */
function defaultPort(protocol: Route['protocol']): number {
  return protocol === 'grpc' ? 4317 : 4318;
}

/**
 * Pure: every sender (ClaudeCodeSettings, AppInstrumentation) checked against the OtelCollector resources that
 * select the host it sends to. Problems, each at the sender's file, line and field:
 * - no OtelCollector selects that host;
 * - none of them has a pipeline for a signal the sender sends;
 * - none of them receives the sender's protocol on the port the sender uses (its own or the default).
 *
 * What is compared is what hostop renders, so a desired state that declares no OtelCollector at all (its
 * collectors run outside hostop) is not checked. A suspended sender is skipped (hostop writes nothing for it); a
 * suspended collector still counts (it keeps running its last config, and pausing it must not invalidate every
 * sender of the fleet). Unknown host names are left to the loader's reference check.
 */
export function checkCollectorRoutes(
  snapshot: Snapshot,
  lineOf: (res: Resource, path: string) => number,
): Problem[] {
  const collectors = snapshot.resources.filter((r) => r.kind === 'OtelCollector');
  if (collectors.length === 0) return [];
  const runsOn = new Map(
    collectors.map((c) => [c, selectHosts(c.spec as HostSelection, snapshot.hosts).map((h) => h.name)]),
  );
  const known = new Set(snapshot.hosts.map((h) => h.name));
  return snapshot.resources.flatMap((sender) => {
    const route = routeOf(sender);
    const suspended = (sender.spec as { suspend?: boolean }).suspend === true;
    if (!route || suspended || !known.has(route.host)) return [];
    const here = collectors.filter((c) => runsOn.get(c)!.includes(route.host));
    const found = here.length === 0 ? [noCollector(route, runsOn)] : routeProblems(route, here);
    return found.map(
      ({ path, message }): Problem => ({
        severity: 'error',
        file: sender.source.file,
        line: lineOf(sender, path),
        path,
        message,
      }),
    );
  });
}

function noCollector(route: Route, runsOn: Map<Resource, string[]>): Found {
  const where = [...runsOn].map(
    ([c, hosts]) => `${located(c)} runs on ${hosts.length > 0 ? hosts.join(', ') : 'no host'}`,
  );
  return {
    path: '/spec/collector/host',
    message:
      `sends OTLP to host ${JSON.stringify(route.host)}, but no OtelCollector runs there: ${where.join('; ')}; ` +
      "point collector.host at a collector's host, or select this host in an OtelCollector",
  };
}

/** A signal no collector on the host has a pipeline for; a port none of them receives the protocol on. */
function routeProblems(route: Route, here: Resource[]): Found[] {
  const receivers = here.map(receiverOf);
  const found: Found[] = route.signals
    .filter((signal) => !receivers.some((r) => r.pipelines.includes(signal)))
    .map((signal) => ({
      path: `/spec/signals/${signal}`,
      message:
        `sends ${signal} to host ${JSON.stringify(route.host)}, but ${list(here)} ` +
        `${here.length === 1 ? 'has' : 'have'} no ${signal} pipeline: set spec.${signal} there, or stop ` +
        `sending ${signal}`,
    }));
  const grpc = route.protocol === 'grpc';
  const port = route.port ?? defaultPort(route.protocol);
  const ports = [...new Set(receivers.map((r) => (grpc ? r.grpcPort : r.httpPort)))];
  if (!ports.includes(port)) {
    const otlp = grpc ? 'OTLP/gRPC' : 'OTLP/HTTP';
    found.push({
      path: route.port === undefined ? '/spec/collector' : '/spec/collector/port',
      message:
        `sends ${otlp} to port ${port}${route.port === undefined ? ' (the default)' : ''} of host ` +
        `${JSON.stringify(route.host)}, but ${list(here)} ${here.length === 1 ? 'receives' : 'receive'} ` +
        `${otlp} on port ${ports.join(', ')}: set collector.port to match`,
    });
  }
  return found;
}

/** `OtelCollector/a (file:line)`. */
function located(res: Resource): string {
  return `${res.kind}/${res.metadata.name} (${res.source.file}:${res.source.line})`;
}

/** `OtelCollector/a (file:line) and OtelCollector/b (file:line)`. */
function list(collectors: Resource[]): string {
  const each = collectors.map(located);
  return each.length <= 1 ? each.join('') : `${each.slice(0, -1).join(', ')} and ${each.at(-1)}`;
}
