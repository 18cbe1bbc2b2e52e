import { createHash, timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { isIP } from 'node:net';
import { HostopError } from '../core/errors.js';

/** The read-only endpoints' data sources. Each is called per request, so answers are always current. */
export interface HttpRoutes {
  /** Prometheus exposition text and its content type (e.g. from a prom-client Registry). */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Whether the daemon is ready: first snapshot loaded and first pass done. */
  ready(): boolean;
  /** A short fixed phrase saying why not (no host names, no addresses: /readyz is open). */
  notReadyReason?(): string | undefined;
  /** JSON-serializable status view. */
  status(): unknown;
}

/** Where the server reports what an operator should know (a pino logger fits). */
export interface HttpLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface HttpServerOptions {
  /** `host:port` or `[v6]:port`; port 0 picks a free one. Default `127.0.0.1:9464`. */
  listen?: string;
  /** When set, every route but `/healthz` and `/readyz` requires `Authorization: Bearer <token>`. */
  token?: string;
  routes: HttpRoutes;
  log?: HttpLog;
}

/** A listening server. `close()` stops accepting, drops keep-alive connections and resolves once closed. */
export interface RunningHttpServer {
  address: string;
  port: number;
  close(): Promise<void>;
}

export const DEFAULT_LISTEN = '127.0.0.1:9464';

/**
 * Serves `/metrics`, `/healthz`, `/readyz` and `/status`, read-only.
 *
 * Contract: GET and HEAD only (anything else 405 with `Allow`); `/healthz` is 200 whenever the process
 * answers; `/readyz` 200 only while `routes.ready()` is true, else 503 (both open); with a token, any other path
 * without the exact bearer token gets 401 (compared in constant time), before the path is even looked up;
 * unknown paths 404. A throwing route answers 500 with a generic body (details go to `log.error`, never to
 * the client). Binding a non-loopback address logs a warning.
 *
 * Fails (rejects, nothing left listening) with `HostopError` code `InvalidListenAddress` for an unparsable
 * `listen`, `EmptyHttpToken` for a token of length 0, and `ListenFailed` when the address cannot be bound
 * (in use, not local).
 */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const { host, port } = parseListen(options.listen ?? DEFAULT_LISTEN);
  if (options.token !== undefined && options.token.length === 0) {
    throw new HostopError(
      'EmptyHttpToken',
      'the HTTP bearer token is empty; set a non-empty token or none',
      false,
    );
  }
  if (!isLoopback(host)) {
    options.log?.warn(
      { listen: options.listen },
      'HTTP endpoints (/metrics, /status) listen on a non-loopback address; set a token or firewall them',
    );
  }
  const expected = options.token === undefined ? undefined : digest(options.token);
  const server = createServer((req, res) => {
    handle(req, res, options.routes, expected, options.log).catch((err: unknown) => {
      options.log?.error({ err, path: req.url }, 'HTTP handler failed');
      if (!res.headersSent) send(res, req, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  // A scraper reuses its connection: keep idle ones open longer than clients' own idle timeouts (undici 4 s,
  // Prometheus longer), else a request can race the server closing the socket ("other side closed").
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 70_000;
  await listen(server, host, port);
  const bound = server.address();
  if (bound === null || typeof bound === 'string') {
    server.close();
    throw new HostopError('ListenFailed', 'the server has no TCP address', false);
  }
  return {
    address: bound.address,
    port: bound.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  routes: HttpRoutes,
  expected: Buffer | undefined,
  log: HttpLog | undefined,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, req, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
  }
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  // Probes stay open (a kubelet's httpGet cannot read a token from a Secret); they tell only up/ready.
  if (path === '/healthz') return send(res, req, 200, 'text/plain; charset=utf-8', 'ok\n');
  if (path === '/readyz')
    return routes.ready()
      ? send(res, req, 200, 'text/plain; charset=utf-8', 'ready\n')
      : send(res, req, 503, 'text/plain; charset=utf-8', `not ready${reasonOf(routes)}\n`);
  if (expected !== undefined && !authorized(req, expected)) {
    res.setHeader('WWW-Authenticate', 'Bearer realm="hostop"');
    return send(res, req, 401, 'text/plain; charset=utf-8', 'unauthorized\n');
  }
  switch (path) {
    case '/metrics': {
      const { contentType, body } = await routes.metrics();
      return send(res, req, 200, contentType, body);
    }
    case '/status':
      return send(res, req, 200, 'application/json; charset=utf-8', `${JSON.stringify(routes.status())}\n`);
    default:
      log?.warn({ path }, 'HTTP request for an unknown path');
      return send(res, req, 404, 'text/plain; charset=utf-8', 'not found\n');
  }
}

function send(
  res: ServerResponse,
  req: IncomingMessage,
  status: number,
  contentType: string,
  body: string,
): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Cache-Control', 'no-store');
  res.end(req.method === 'HEAD' ? undefined : body);
}

function authorized(req: IncomingMessage, expected: Buffer): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  // Comparing fixed-length digests keeps the comparison constant-time regardless of the presented length.
  return match !== null && timingSafeEqual(digest(match[1]!), expected);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !(port >= 0 && port <= 65535) || (match?.[1] !== undefined && isIP(host) !== 6)) {
    throw new HostopError(
      'InvalidListenAddress',
      `--listen ${JSON.stringify(listen)} is not host:port (e.g. 127.0.0.1:9464 or [::1]:9464)`,
      false,
    );
  }
  return { host, port };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) =>
      reject(
        new HostopError('ListenFailed', `cannot listen on ${host}:${port}: ${err.message}`, false, {
          cause: err,
        }),
      );
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function reasonOf(routes: HttpRoutes): string {
  const why = routes.notReadyReason?.();
  return why ? `: ${why}` : '';
}
