import { describeError } from '../core/errors.js';
import type { HealthCheck, ReloadProof } from '../core/model.js';
import { httpGet } from '../ssh/tunnel-http.js';
import type { HostExecutor } from './host-executor.js';

const POLL_MS = 250;

/**
 * Polls a health check from the host's own point of view (tunnelled over SSH, no process on the host) until it
 * passes or its deadline elapses. Never rejects: a failure is a value with the last reason.
 */
export async function waitHealthy(
  conn: HostExecutor,
  check: HealthCheck,
  signal?: AbortSignal,
): Promise<{ ok: boolean; message: string }> {
  const until = Date.now() + check.timeoutMs;
  let last = 'not checked';
  while (!signal?.aborted) {
    const left = until - Date.now();
    if (left <= 0) break;
    last = await probeOnce(conn, check, Math.min(left, 5000), signal);
    if (last === '') return { ok: true, message: 'healthy' };
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, until - Date.now()))));
  }
  return { ok: false, message: `not healthy within ${check.timeoutMs} ms: ${last}` };
}

/** '' when healthy, else why not. */
async function probeOnce(
  conn: HostExecutor,
  check: HealthCheck,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string> {
  try {
    if (check.type === 'tcp') {
      const s = await conn.forwardTcp(check.host, check.port, { timeoutMs, signal });
      s.destroy();
      return '';
    }
    const res = await httpGet(conn, check.url, { timeoutMs, signal });
    return res.status === check.expectStatus
      ? ''
      : `${check.url} answered ${res.status}, expected ${check.expectStatus}`;
  } catch (e) {
    return `${check.type === 'http' ? check.url : `${check.host}:${check.port}`}: ${describeError(e)}`;
  }
}

/**
 * The value of a top-level field of the JSON document at `proof.url`, as a string (undefined when it cannot be
 * read: nothing listens, not JSON, no such field). Never rejects, except for an abort.
 */
export async function readJsonField(
  conn: HostExecutor,
  proof: ReloadProof,
  signal?: AbortSignal,
): Promise<string | undefined> {
  try {
    const res = await httpGet(conn, proof.url, { timeoutMs: Math.min(proof.timeoutMs, 5000), signal });
    const value = (JSON.parse(res.body.toString('utf8')) as Record<string, unknown>)[proof.field];
    return value === undefined || value === null ? undefined : String(value);
  } catch (e) {
    if (signal?.aborted) throw e;
    return undefined;
  }
}

/** Polls `proof` until its field differs from `before` (the component has reloaded) or its deadline passes. */
export async function waitFieldChanged(
  conn: HostExecutor,
  proof: ReloadProof,
  before: string,
  signal?: AbortSignal,
): Promise<{ ok: boolean; message: string }> {
  const until = Date.now() + proof.timeoutMs;
  while (!signal?.aborted && Date.now() < until) {
    const now = await readJsonField(conn, proof, signal);
    if (now !== undefined && now !== before) return { ok: true, message: `${proof.field} is now ${now}` };
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, until - Date.now()))));
  }
  return {
    ok: false,
    message: `the reload did not take effect: ${proof.url} still reports ${proof.field} ${before} after ${proof.timeoutMs} ms, so the old config is still running`,
  };
}
