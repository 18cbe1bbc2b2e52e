import type { Duplex } from 'node:stream';
import { DesiredStateError, ProtocolError, TimeoutError, TransportError } from '../core/errors.js';
import type { HostExecutor, RequestOptions } from '../engine/host-executor.js';
import { deadline, untilAborted, whenAborted } from './deadline.js';

export interface HttpResponse {
  status: number;
  body: Buffer;
  /** The body was longer than the bound and was cut there. */
  truncated: boolean;
}

const MAX_HEAD_BYTES = 16 * 1024;

/**
 * One HTTP/1.1 GET made from the host's point of view (through a direct-tcpip forward, no process on
 * the host): health endpoints on the host's own loopback or on its network. `Connection: close`; the
 * body is cut at `maxBodyBytes` (default 64 KiB). Only `http:` URLs. Rejects with the forward's errors
 * (TransportError `ForwardRefused` when nothing listens), ProtocolError for a response that is not HTTP,
 * or the deadline's TimeoutError / abort reason; a non-2xx status is a result, not an error.
 */
export async function httpGet(
  conn: HostExecutor,
  url: string,
  opts: RequestOptions & { maxBodyBytes?: number },
): Promise<HttpResponse> {
  const u = new URL(url);
  if (u.protocol !== 'http:') throw new DesiredStateError(`health URL must be http:// (got ${url})`);
  const target = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(u.port || 80);
  const host = conn.host.name;
  const dl = deadline(`GET ${url}`, opts.timeoutMs, host, opts.signal);
  try {
    const stream = await conn.forwardTcp(target, port, { timeoutMs: opts.timeoutMs, signal: dl.signal });
    const raw = await untilAborted(
      readAll(stream, MAX_HEAD_BYTES + (opts.maxBodyBytes ?? 64 * 1024), dl.signal),
      dl.signal,
    );
    stream.end(); // harmless when the server already closed
    return parseResponse(host, url, raw.bytes, raw.truncated, opts.maxBodyBytes ?? 64 * 1024);
  } finally {
    dl.dispose();
  }

  function readAll(
    stream: Duplex,
    limit: number,
    signal: AbortSignal,
  ): Promise<{ bytes: Buffer; truncated: boolean }> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const stop = whenAborted(signal, () => stream.destroy());
      const finish = (truncated: boolean) => {
        stop();
        resolve({ bytes: Buffer.concat(chunks), truncated });
      };
      stream.on('data', (c: Buffer) => {
        chunks.push(c);
        size += c.length;
        if (size > limit) {
          stream.destroy();
          finish(true);
        }
      });
      stream.on('end', () => finish(false));
      stream.on('close', () => finish(false));
      stream.on('error', (e: Error) => {
        stop();
        reject(
          new TransportError('ForwardRefused', `host ${host}: GET ${url} failed: ${e.message}`, true, {
            host,
            cause: e,
          }),
        );
      });
      const path = `${u.pathname}${u.search}`;
      stream.write(
        `GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\nUser-Agent: hostop\r\nAccept: */*\r\n\r\n`,
      );
    });
  }
}

function parseResponse(host: string, url: string, raw: Buffer, cut: boolean, maxBody: number): HttpResponse {
  const bad = (why: string) => new ProtocolError(`host ${host}: GET ${url}: ${why}`, { host });
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0) throw bad(raw.length === 0 ? 'empty response' : 'no complete HTTP header');
  const [statusLine = '', ...headerLines] = raw.subarray(0, headEnd).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
  if (!m) throw bad(`not an HTTP response: ${JSON.stringify(statusLine.slice(0, 80))}`);
  const headers = new Map<string, string>();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  let body = raw.subarray(headEnd + 4);
  let truncated = cut;
  if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
    const d = dechunk(body);
    if (!d) throw bad('malformed chunked body');
    body = d.body;
    truncated ||= !d.complete;
  } else if (headers.has('content-length')) {
    const len = Number(headers.get('content-length'));
    if (body.length > len) body = body.subarray(0, len);
    truncated ||= body.length < len;
  }
  if (body.length > maxBody) {
    body = body.subarray(0, maxBody);
    truncated = true;
  }
  return { status: Number(m[1]), body, truncated };
}

/** Decodes a chunked body as far as it goes; undefined when a chunk header is malformed. */
function dechunk(data: Buffer): { body: Buffer; complete: boolean } | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol < 0) return { body: Buffer.concat(parts), complete: false };
    const size = Number.parseInt(data.subarray(at, eol).toString('latin1').split(';')[0] as string, 16);
    if (Number.isNaN(size)) return undefined;
    if (size === 0) return { body: Buffer.concat(parts), complete: true };
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    if (eol + 2 + size > data.length) return { body: Buffer.concat(parts), complete: false };
    at = eol + 2 + size + 2;
  }
}

/** Whether a TCP connection from the host to `target:port` succeeds, or why not. */
export type Reachability = { reachable: true } | { reachable: false; reason: string };

/**
 * Checks from the host's point of view whether `target:port` accepts TCP connections (direct-tcpip; the
 * connection is closed at once). Refused, unreachable and no answer within `timeoutMs` are results.
 * Rejects only when the check itself cannot be made: ConnectionLost, `ForwardProhibited`, or the
 * caller's abort reason.
 */
export async function tcpReachable(
  conn: HostExecutor,
  target: string,
  port: number,
  opts: RequestOptions,
): Promise<Reachability> {
  try {
    const stream = await conn.forwardTcp(target, port, opts);
    stream.destroy();
    return { reachable: true };
  } catch (e) {
    if (e instanceof TransportError && e.code === 'ForwardRefused')
      return { reachable: false, reason: e.message };
    if (e instanceof TimeoutError && !opts.signal?.aborted) {
      return { reachable: false, reason: `no answer from ${target}:${port} within ${opts.timeoutMs} ms` };
    }
    throw e;
  }
}
