import { type IncomingMessage, request } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  DesiredStateError,
  type HostopError,
  ProtocolError,
  TimeoutError,
  TransportError,
} from '../core/errors.js';
import type { HostExecutor, RequestOptions } from '../engine/host-executor.js';
import { deadline, untilAborted } from './deadline.js';

export interface HttpResponse {
  status: number;
  body: Buffer;
  /** The body was longer than the bound and was cut there (or the server closed before sending all of it). */
  truncated: boolean;
}

/** The bound on the status line and headers (node's parser rejects a longer head: HPE_HEADER_OVERFLOW). */
const MAX_HEAD_BYTES = 16 * 1024;
const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
/** How much of the raw response is kept to name what answered when it is not HTTP. */
const SNIFF_BYTES = 256;

/**
 * One HTTP/1.1 GET made from the host's point of view (through a direct-tcpip forward, no process on
 * the host): health endpoints on the host's own loopback or on its network. `Connection: close`; the
 * body is cut at `maxBodyBytes` (default 64 KiB). Only `http:` URLs. Rejects with the forward's errors
 * (TransportError `ForwardRefused` when nothing listens), ProtocolError for a response that is not HTTP,
 * or the deadline's TimeoutError / abort reason; a non-2xx status is a result, not an error.
 *
 * The protocol is node's own client (`node:http`) over the forwarded stream: `createConnection` hands
 * it the stream, and with no `agent` node makes exactly one request on it and sends `Connection: close`
 * (no keep-alive pool: a forward is one direct-tcpip channel, opened per request and destroyed after).
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
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  // One deadline for connect + headers + body: node's own `timeout` is an idle timer per socket, which a
  // server trickling a byte at a time never trips.
  const dl = deadline(`GET ${url}`, opts.timeoutMs, host, opts.signal);
  try {
    const stream = await conn.forwardTcp(target, port, { timeoutMs: opts.timeoutMs, signal: dl.signal });
    try {
      // untilAborted settles at the deadline whatever the stream does: an ssh2 channel emits 'close' only
      // when the far side confirms, so a stalled host must not be waited for.
      return await untilAborted(get(stream), dl.signal);
    } finally {
      // Always, also after a complete response: the forward is this request's alone.
      stream.destroy();
    }
  } finally {
    dl.dispose();
  }

  function get(stream: Duplex): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (f: () => void) => {
        if (settled) return;
        settled = true;
        f();
      };
      // Stays attached for the stream's life: an error after we settled (a channel failing late) must not
      // become an uncaught 'error' event. node:http forwards the same error to the request, where it is typed.
      let streamError: Error | undefined;
      stream.on('error', (e: Error) => {
        streamError ??= e;
      });
      // The first bytes, to tell an empty answer from a partial one and to name what answered instead of HTTP.
      const sniffed: Buffer[] = [];
      let sniffedBytes = 0;
      let res: IncomingMessage | undefined;
      const chunks: Buffer[] = [];
      let size = 0;
      const result = (truncated: boolean): HttpResponse => ({
        status: res?.statusCode ?? 0,
        body: Buffer.concat(chunks),
        truncated,
      });

      const req = request({
        // No `agent`: with createConnection and no agent node uses this stream for this one request
        // (`agent: false` would make a fresh Agent, which ignores createConnection and dials TCP itself).
        createConnection: () => stream,
        method: 'GET',
        path: `${u.pathname}${u.search}`,
        setHost: false,
        headers: { Host: u.host, Connection: 'close', 'User-Agent': 'hostop', Accept: '*/*' },
        maxHeaderSize: MAX_HEAD_BYTES,
      });
      // Ahead of node's own 'data' listener, so a chunk it fails to parse has been seen here first.
      req.on('socket', (s: Duplex) =>
        s.prependListener('data', (c: Buffer) => {
          if (sniffedBytes >= SNIFF_BYTES) return;
          sniffed.push(c.subarray(0, SNIFF_BYTES - sniffedBytes));
          sniffedBytes += c.length;
        }),
      );
      req.on('response', (r: IncomingMessage) => {
        res = r;
        r.on('data', (c: Buffer) => {
          if (settled) return;
          const room = maxBody - size;
          if (c.length > room) {
            // Over the bound: keep what fits and stop reading (a health endpoint has no business being large).
            chunks.push(c.subarray(0, room));
            size = maxBody;
            settle(() => resolve(result(true)));
            stream.destroy();
            return;
          }
          chunks.push(c);
          size += c.length;
        });
        r.on('end', () => settle(() => resolve(result(false))));
        r.on('error', () => {}); // the 'aborted' below; settled on the request's 'close'
      });
      req.on('close', () => {
        // The stream closed before the body's end: what came is the result, cut short (a failing stream has
        // rejected already). node destroys the response ('aborted') and then emits this 'close'; the
        // response's own 'error' may wait for the stream to finish destroying, which a stream whose
        // destroy() only ends and closes (as ssh2's Channel's) need not ever report.
        if (res && !res.complete) settle(() => resolve(result(true)));
      });
      req.on('error', (e: Error & { code?: string; reason?: string }) => {
        // Bytes after a complete response (more than its Content-Length) are ignored, as before: its
        // 'end' still comes once the body already parsed has been read.
        if (!res?.complete) settle(() => reject(failure(e)));
      });
      req.end();

      function failure(e: Error & { code?: string; reason?: string }): HostopError {
        const bad = (why: string) =>
          new ProtocolError(`host ${host}: GET ${url}: ${why}`, { host, cause: e });
        if (streamError || !e.code?.startsWith('HPE_')) {
          if (!streamError && !res && e.code === 'ECONNRESET')
            // node's "socket hang up": the stream ended before a complete head.
            return bad(sniffedBytes === 0 ? 'empty response' : 'no complete HTTP header');
          return new TransportError('ForwardRefused', `host ${host}: GET ${url} failed: ${e.message}`, true, {
            host,
            cause: e,
          });
        }
        // After the head only a chunked body can be malformed (a Content-Length body is just bytes).
        if (res) return bad('malformed chunked body');
        if (e.code === 'HPE_HEADER_OVERFLOW')
          return bad(`no complete HTTP header within ${MAX_HEAD_BYTES} bytes`);
        const statusLine = Buffer.concat(sniffed).toString('latin1').split('\r\n')[0] ?? '';
        if (!/^HTTP\/1\.[01] \d{3}(?: |$)/.test(statusLine))
          return bad(`not an HTTP response: ${JSON.stringify(statusLine.slice(0, 80))}`);
        return bad(`malformed HTTP header (${e.reason ?? e.code})`);
      }
    });
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
