import type { HealthCheck } from '../core/model.js';
import type { AppInstrumentationSpec, ServiceSpec } from '../generated/crd-types.js';

/** The `health` block shared by the Service and AppInstrumentation CRDs (defaults already applied). */
export type HealthSpec = NonNullable<ServiceSpec['health']> & NonNullable<AppInstrumentationSpec['health']>;

/** The intent's health check, or undefined when the spec has none. `validate` guarantees at most one of http/tcp. */
export function healthCheck(spec: HealthSpec | undefined): HealthCheck | undefined {
  if (!spec) return undefined;
  const timeoutMs = spec.timeoutSeconds * 1000;
  if (spec.http) return { type: 'http', url: spec.http.url, expectStatus: spec.http.expectStatus, timeoutMs };
  if (spec.tcp) return { type: 'tcp', host: spec.tcp.host, port: spec.tcp.port, timeoutMs };
  return undefined;
}

/** Problems of a `health` block the schema cannot express: exactly one of http and tcp. */
export function healthProblems(
  spec: HealthSpec | undefined,
  path: string,
): { path: string; message: string }[] {
  if (!spec || (spec.http === undefined) !== (spec.tcp === undefined)) return [];
  return [{ path, message: 'set exactly one of health.http and health.tcp' }];
}

/** An HTTP GET on the host's loopback, the way every component kind checks its own service. */
export function loopbackHttp(port: number, path: string, timeoutMs: number): HealthCheck {
  return { type: 'http', url: `http://127.0.0.1:${port}${path}`, expectStatus: 200, timeoutMs };
}
