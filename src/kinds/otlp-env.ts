import type { HostRef, Snapshot } from '../core/model.js';
import type { AppInstrumentationSpec, ClaudeCodeSettingsSpec } from '../generated/crd-types.js';
import { addressFrom, hostPort } from './host-address.js';

/** The `collector` block shared by ClaudeCodeSettings and AppInstrumentation (defaults applied). */
export type CollectorSpec = ClaudeCodeSettingsSpec['collector'] & AppInstrumentationSpec['collector'];

/** Where a sender on one host reaches the collector's OTLP receiver. */
export interface CollectorTarget {
  address: string;
  port: number;
  /** Base endpoint for OTEL_EXPORTER_OTLP_ENDPOINT; SDKs append /v1/<signal> for HTTP themselves. */
  baseUrl: string;
}

/** The collector's default OTLP ports: gRPC 4317, HTTP 4318. */
export function defaultOtlpPort(protocol: CollectorSpec['protocol']): number {
  return protocol === 'grpc' ? 4317 : 4318;
}

export function collectorTarget(snapshot: Snapshot, from: HostRef, spec: CollectorSpec): CollectorTarget {
  const address = addressFrom(snapshot, from, spec.host);
  const port = spec.port ?? defaultOtlpPort(spec.protocol);
  return { address, port, baseUrl: `http://${hostPort(address, port)}` };
}

/**
 * OTEL_RESOURCE_ATTRIBUTES: `k=v,k2=v2` in the given order, no spaces, values percent-encoded (the variable
 * uses W3C Baggage syntax, and SDKs decode it; quotes would be kept literally).
 */
export function resourceAttributesValue(pairs: [string, string][]): string {
  return pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join(',');
}

/** OTEL_EXPORTER_OTLP_HEADERS: `name=value` pairs sorted by name, values verbatim (the schema forbids commas). */
export function headersValue(headers: Record<string, string>): string {
  return sortedEntries(headers)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function sortedEntries(map: Record<string, string> | undefined): [string, string][] {
  return Object.entries(map ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export const ATTRIBUTE_KEY = /^[A-Za-z0-9._-]+$/;
export const HEADER_NAME = /^[A-Za-z0-9-]+$/;
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Map keys the schema cannot constrain (structural schemas have no propertyNames). */
export function keyProblems(
  map: Record<string, string> | undefined,
  pattern: RegExp,
  path: string,
  what: string,
): { path: string; message: string }[] {
  return Object.keys(map ?? {})
    .filter((k) => !pattern.test(k))
    .map((k) => ({
      path: `${path}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`,
      message: `${JSON.stringify(k)} is not a valid ${what} (${pattern.source})`,
    }));
}
