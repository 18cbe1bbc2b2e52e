import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type AddressInfo, type Socket, connect, createServer as createTcpServer } from 'node:net';
import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ApplyError,
  DesiredStateError,
  ProtocolError,
  TimeoutError,
  TransportError,
} from '../../../src/core/errors.js';
import type { HostRef } from '../../../src/core/model.js';
import type { HostExecutor, RequestOptions } from '../../../src/engine/host-executor.js';
import { deadline, untilAborted } from '../../../src/ssh/deadline.js';
import { httpGet, tcpReachable } from '../../../src/ssh/tunnel-http.js';

const HOST: HostRef = {
  name: 'web-01',
  labels: {},
  address: '192.0.2.1',
  port: 22,
  user: 'root',
  hostKey: 'ssh-ed25519 AAAA',
  privilege: 'root',
};

/**
 * Behaves like ssh2's Channel for a direct-tcpip forward, the stream httpGet gets in production: a plain
 * Duplex (not a net.Socket) made with emitClose false, whose destroy() only ends and closes (`destroyed`
 * stays false), and which emits 'close' itself once the far side has closed (after 'end').
 */
class ChannelLike extends Duplex {
  constructor(private readonly sock: Socket) {
    super({ emitClose: false, allowHalfOpen: true });
    sock.on('data', (c: Buffer) => {
      if (!this.push(c)) sock.pause();
    });
    sock.on('end', () => this.push(null));
    sock.on('error', (e) => this.emit('error', e));
    sock.on('close', () => {
      if (this.readable) this.push(null);
      if (this.readableEnded) this.emit('close');
      else this.once('end', () => this.emit('close'));
    });
  }
  override _read(): void {
    this.sock.resume();
  }
  override _write(c: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.sock.write(c, cb);
  }
  override _final(cb: () => void): void {
    this.sock.end();
    cb();
  }
  override destroy(): this {
    this.end();
    this.sock.destroy(); // what sshd does to the TCP connection when the channel is closed
    return this;
  }
}

type StreamKind = 'net.Socket' | 'ssh2-like channel';

/**
 * A HostExecutor whose forwardTcp opens a real TCP connection on this machine, under the same contract as
 * HostConnection.forwardTcp: ForwardRefused when refused, the deadline's reason when it passes.
 */
class TcpExecutor implements HostExecutor {
  readonly host = HOST;
  forwards = 0;
  constructor(
    private readonly kind: StreamKind = 'net.Socket',
    private readonly silent = false,
  ) {}
  run(): never {
    throw new Error('not used');
  }
  close(): void {}
  forwardTcp(host: string, port: number, opts: RequestOptions): Promise<Duplex> {
    this.forwards++;
    const dl = deadline(`forward to ${host}:${port}`, opts.timeoutMs, this.host.name, opts.signal);
    const open = new Promise<Duplex>((resolve, reject) => {
      if (this.silent) return; // a target that never answers the SYN
      const sock = connect({ host, port });
      sock.once('connect', () => {
        sock.removeAllListeners('error');
        resolve(this.kind === 'net.Socket' ? sock : new ChannelLike(sock));
      });
      sock.once('error', (e) =>
        reject(
          new TransportError(
            'ForwardRefused',
            `host ${HOST.name} cannot open ${host}:${port}: ${e.message}`,
            true,
            {
              host: HOST.name,
              cause: e,
            },
          ),
        ),
      );
    });
    return untilAborted(open, dl.signal).finally(() => dl.dispose());
  }
}

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

interface Seen {
  headers: IncomingMessage['headers'][];
  url: string[];
  /** Resolves when the server's side of the n-th connection has closed. */
  closed: Promise<void>[];
}

async function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{
  port: number;
  seen: Seen;
}> {
  const seen: Seen = { headers: [], url: [], closed: [] };
  const server: Server = createServer((req, res) => {
    seen.headers.push(req.headers);
    seen.url.push(req.url ?? '');
    handler(req, res);
  });
  server.on('connection', (s: Socket) => seen.closed.push(new Promise((r) => s.on('close', () => r()))));
  servers.push({
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, seen };
}

/** A raw TCP server that answers each connection with `onSocket` (for answers node's server will not send). */
async function tcpServer(onSocket: (s: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    onSocket(s);
  });
  servers.push({
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** A port on 127.0.0.1 where nothing listens. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

async function caught(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

const KB = 1024;

describe.each<StreamKind>(['net.Socket', 'ssh2-like channel'])('httpGet over a %s', (kind) => {
  it('returns a 200 with Content-Length; one forward, Host header, Connection: close, stream closed after', async () => {
    const { port, seen } = await httpServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 6 });
      res.end('hello\n');
    });
    const conn = new TcpExecutor(kind);
    const res = await httpGet(conn, `http://127.0.0.1:${port}/health?x=1`, { timeoutMs: 5_000 });
    expect(res).toEqual({ status: 200, body: Buffer.from('hello\n'), truncated: false });
    expect(conn.forwards).toBe(1);
    expect(seen.url).toEqual(['/health?x=1']);
    expect(seen.headers[0]).toMatchObject({
      host: `127.0.0.1:${port}`,
      connection: 'close',
      'user-agent': 'hostop',
      accept: '*/*',
    });
    // No keep-alive: the server sees its connection closed once the response is read.
    await seen.closed[0];
    const again = await httpGet(conn, `http://127.0.0.1:${port}/health?x=1`, { timeoutMs: 5_000 });
    expect([again.status, conn.forwards, seen.closed.length]).toEqual([200, 2, 2]);
  });

  it('decodes a chunked body', async () => {
    const { port } = await httpServer((_req, res) => {
      res.writeHead(200, { 'Transfer-Encoding': 'chunked' });
      res.write('abc');
      setTimeout(() => res.write('def'), 20);
      setTimeout(() => res.end('ghi'), 40);
    });
    const res = await httpGet(new TcpExecutor(kind), `http://127.0.0.1:${port}/`, { timeoutMs: 5_000 });
    expect(res).toEqual({ status: 200, body: Buffer.from('abcdefghi'), truncated: false });
  });

  it('reads a body without Content-Length or chunking to the end of the stream', async () => {
    const port = await tcpServer((s) =>
      s.once('data', () => s.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil-close')),
    );
    const res = await httpGet(new TcpExecutor(kind), `http://127.0.0.1:${port}/`, { timeoutMs: 5_000 });
    expect(res).toEqual({ status: 200, body: Buffer.from('until-close'), truncated: false });
  });

  it('returns a non-2xx status as a value, with its body', async () => {
    const { port } = await httpServer((_req, res) => {
      res.writeHead(503, { 'Content-Length': 8 });
      res.end('draining');
    });
    const res = await httpGet(new TcpExecutor(kind), `http://127.0.0.1:${port}/ready`, { timeoutMs: 5_000 });
    expect(res).toEqual({ status: 503, body: Buffer.from('draining'), truncated: false });
  });

  it('cuts a body over the default 64 KiB bound, and stops reading there', async () => {
    const big = Buffer.alloc(1024 * KB, 'x');
    big.write('start', 0);
    const { port, seen } = await httpServer((_req, res) => {
      res.writeHead(200, { 'Content-Length': big.length });
      res.end(big);
    });
    const res = await httpGet(new TcpExecutor(kind), `http://127.0.0.1:${port}/`, { timeoutMs: 5_000 });
    expect([res.status, res.body.length, res.truncated]).toEqual([200, 64 * KB, true]);
    expect(res.body.equals(big.subarray(0, 64 * KB))).toBe(true);
    await seen.closed[0];
  });

  it('honours maxBodyBytes, for chunked bodies too; a body of exactly the bound is not truncated', async () => {
    const { port } = await httpServer((req, res) => {
      res.writeHead(200, { 'Transfer-Encoding': 'chunked' });
      if (req.url === '/exact') return res.end('hello');
      res.write('hel');
      res.write('lo-');
      res.end('world');
    });
    const conn = new TcpExecutor(kind);
    const cut = await httpGet(conn, `http://127.0.0.1:${port}/`, { timeoutMs: 5_000, maxBodyBytes: 5 });
    expect(cut).toEqual({ status: 200, body: Buffer.from('hello'), truncated: true });
    const exact = await httpGet(conn, `http://127.0.0.1:${port}/exact`, {
      timeoutMs: 5_000,
      maxBodyBytes: 5,
    });
    expect(exact).toEqual({ status: 200, body: Buffer.from('hello'), truncated: false });
  });

  it('rejects with the deadline when the server sends headers and then stalls mid-body, and closes the stream', async () => {
    const { port, seen } = await httpServer((_req, res) => {
      res.writeHead(200, { 'Content-Length': 100 });
      res.write('partial'); // ... and never the rest
    });
    const url = `http://127.0.0.1:${port}/stall`;
    const started = Date.now();
    const err = await caught(httpGet(new TcpExecutor(kind), url, { timeoutMs: 300 }));
    const took = Date.now() - started;
    expect(err).toBeInstanceOf(TimeoutError);
    expect([err.code, err.message]).toEqual(['Timeout', `GET ${url} on web-01 did not finish within 300 ms`]);
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(2_000);
    await seen.closed[0]; // the forward was destroyed, not left open
  });

  it('rejects with the deadline when the server never answers at all', async () => {
    const { port } = await httpServer(() => {});
    const url = `http://127.0.0.1:${port}/silent`;
    const err = await caught(httpGet(new TcpExecutor(kind), url, { timeoutMs: 200 }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.message).toBe(`GET ${url} on web-01 did not finish within 200 ms`);
  });

  it("rejects with the caller's abort: a plain abort as TransportError Aborted, a HostopError as itself", async () => {
    const { port, seen } = await httpServer((_req, res) => {
      res.writeHead(200, { 'Content-Length': 100 });
      res.write('partial');
    });
    const url = `http://127.0.0.1:${port}/`;
    const plain = new AbortController();
    setTimeout(() => plain.abort(), 100);
    const started = Date.now();
    const err = await caught(
      httpGet(new TcpExecutor(kind), url, { timeoutMs: 10_000, signal: plain.signal }),
    );
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(err).toBeInstanceOf(TransportError);
    expect([err.code, err.message]).toEqual(['Aborted', `GET ${url} on web-01 was cancelled`]);
    await seen.closed[0];

    const typed = new AbortController();
    const reason = new ApplyError('HealthCheckFailed', 'pass cancelled', false);
    setTimeout(() => typed.abort(reason), 100);
    expect(
      await caught(httpGet(new TcpExecutor(kind), url, { timeoutMs: 10_000, signal: typed.signal })),
    ).toBe(reason);

    const before = new AbortController();
    before.abort(reason);
    const conn = new TcpExecutor(kind);
    expect(await caught(httpGet(conn, url, { timeoutMs: 10_000, signal: before.signal }))).toBe(reason);
  });

  it('returns what came, marked truncated, when the server closes before the end of the body', async () => {
    const port = await tcpServer((s) =>
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfour')),
    );
    const res = await httpGet(new TcpExecutor(kind), `http://127.0.0.1:${port}/`, { timeoutMs: 5_000 });
    expect(res).toEqual({ status: 200, body: Buffer.from('four'), truncated: true });
  });

  it('ignores bytes past Content-Length', async () => {
    const port = await tcpServer((s) =>
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokJUNK')),
    );
    const res = await httpGet(new TcpExecutor(kind), `http://127.0.0.1:${port}/`, { timeoutMs: 5_000 });
    expect(res).toEqual({ status: 200, body: Buffer.from('ok'), truncated: false });
  });

  it('rejects with ProtocolError when what answers is not HTTP, or closes without a complete head', async () => {
    const ssh = await tcpServer((s) => s.end('SSH-2.0-OpenSSH_9.6\r\n'));
    const url = `http://127.0.0.1:${ssh}/`;
    const notHttp = await caught(httpGet(new TcpExecutor(kind), url, { timeoutMs: 5_000 }));
    expect(notHttp).toBeInstanceOf(ProtocolError);
    expect(notHttp.message).toBe(`host web-01: GET ${url}: not an HTTP response: "SSH-2.0-OpenSSH_9.6"`);

    const empty = await tcpServer((s) => s.once('data', () => s.end()));
    const emptyErr = await caught(
      httpGet(new TcpExecutor(kind), `http://127.0.0.1:${empty}/`, { timeoutMs: 5_000 }),
    );
    expect(emptyErr).toBeInstanceOf(ProtocolError);
    expect(emptyErr.message).toBe(`host web-01: GET http://127.0.0.1:${empty}/: empty response`);

    const partial = await tcpServer((s) => s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-')));
    const partialErr = await caught(
      httpGet(new TcpExecutor(kind), `http://127.0.0.1:${partial}/`, { timeoutMs: 5_000 }),
    );
    expect(partialErr).toBeInstanceOf(ProtocolError);
    expect(partialErr.message).toBe(`host web-01: GET http://127.0.0.1:${partial}/: no complete HTTP header`);

    const chunks = await tcpServer((s) =>
      s.once('data', () =>
        s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n'),
      ),
    );
    const chunkErr = await caught(
      httpGet(new TcpExecutor(kind), `http://127.0.0.1:${chunks}/`, { timeoutMs: 5_000 }),
    );
    expect(chunkErr).toBeInstanceOf(ProtocolError);
    expect(chunkErr.message).toBe(`host web-01: GET http://127.0.0.1:${chunks}/: malformed chunked body`);
  });

  it('rejects with ProtocolError for a head over 16 KiB', async () => {
    const port = await tcpServer((s) =>
      s.once('data', () => s.end(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20 * KB)}\r\n\r\n`)),
    );
    const url = `http://127.0.0.1:${port}/`;
    const err = await caught(httpGet(new TcpExecutor(kind), url, { timeoutMs: 5_000 }));
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.message).toBe(`host web-01: GET ${url}: no complete HTTP header within 16384 bytes`);
  });

  it('rejects with TransportError ForwardRefused when the stream fails mid-body', async () => {
    const port = await tcpServer((s) =>
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
        setTimeout(() => s.resetAndDestroy(), 50);
      }),
    );
    const url = `http://127.0.0.1:${port}/`;
    const err = await caught(httpGet(new TcpExecutor(kind), url, { timeoutMs: 5_000 }));
    expect(err).toBeInstanceOf(TransportError);
    expect([err.code, err.message]).toEqual([
      'ForwardRefused',
      `host web-01: GET ${url} failed: read ECONNRESET`,
    ]);
  });
});

describe('httpGet before any stream', () => {
  it("rejects with the forward's ForwardRefused when nothing listens", async () => {
    const port = await closedPort();
    const err = await caught(httpGet(new TcpExecutor(), `http://127.0.0.1:${port}/`, { timeoutMs: 5_000 }));
    expect(err).toBeInstanceOf(TransportError);
    expect(err.code).toBe('ForwardRefused');
    expect(err.message).toMatch(
      new RegExp(`^host web-01 cannot open 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
    );
  });

  it('rejects a URL that is not http:// without opening a forward', async () => {
    const conn = new TcpExecutor();
    const err = await caught(httpGet(conn, 'https://127.0.0.1/', { timeoutMs: 5_000 }));
    expect(err).toBeInstanceOf(DesiredStateError);
    expect(err.message).toBe('health URL must be http:// (got https://127.0.0.1/)');
    expect(conn.forwards).toBe(0);
  });

  it('rejects with the deadline when the forward itself does not open in time', async () => {
    const url = 'http://127.0.0.1:9/';
    const err = await caught(httpGet(new TcpExecutor('net.Socket', true), url, { timeoutMs: 150 }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.message).toBe(`GET ${url} on web-01 did not finish within 150 ms`);
  });
});

describe('tcpReachable', () => {
  it('is reachable when something listens, and the probe connection is closed at once', async () => {
    let closed!: Promise<void>;
    const port = await tcpServer((s) => {
      closed = new Promise((r) => s.on('close', () => r()));
    });
    expect(await tcpReachable(new TcpExecutor(), '127.0.0.1', port, { timeoutMs: 5_000 })).toEqual({
      reachable: true,
    });
    await closed;
  });

  it('is not reachable, with the reason, when the port refuses', async () => {
    const port = await closedPort();
    const r = await tcpReachable(new TcpExecutor(), '127.0.0.1', port, { timeoutMs: 5_000 });
    expect(r.reachable).toBe(false);
    expect(r.reachable ? '' : r.reason).toMatch(
      new RegExp(
        `^host web-01 cannot open 127\\.0\\.0\\.1:${port}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`,
      ),
    );
  });

  it('is not reachable when nothing answers in time; rejects on an abort instead', async () => {
    const silent = new TcpExecutor('net.Socket', true);
    expect(await tcpReachable(silent, '127.0.0.1', 9, { timeoutMs: 100 })).toEqual({
      reachable: false,
      reason: 'no answer from 127.0.0.1:9 within 100 ms',
    });
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(), 50);
    const err = await caught(tcpReachable(silent, '127.0.0.1', 9, { timeoutMs: 5_000, signal: ctrl.signal }));
    expect([err.constructor, (err as TransportError).code]).toEqual([TransportError, 'Aborted']);
  });
});
