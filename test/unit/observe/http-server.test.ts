import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { HostopError } from '../../../src/core/errors.js';
import {
  type HttpRoutes,
  type RunningHttpServer,
  startHttpServer,
} from '../../../src/observe/http-server.js';
import { createMetrics } from '../../../src/observe/metrics.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A real HTTP request with node:http (fetch refuses some methods and hides HEAD bodies). */
function call(server: RunningHttpServer, method: string, path: string, headers: Record<string, string> = {}) {
  return new Promise<Reply>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function logSink() {
  const warnings: string[] = [];
  const errors: string[] = [];
  return {
    warnings,
    errors,
    log: {
      warn: (_o: object, msg: string) => void warnings.push(msg),
      error: (_o: object, msg: string) => void errors.push(msg),
    },
  };
}

let ready = false;
const metrics = createMetrics({ defaultMetrics: false });
const routes: HttpRoutes = {
  metrics: async () => ({
    contentType: metrics.registry.contentType,
    body: await metrics.registry.metrics(),
  }),
  ready: () => ready,
  status: () => ({ hosts: [{ name: 'web01', reachable: true }] }),
};

const servers: RunningHttpServer[] = [];
async function start(opts: Partial<Parameters<typeof startHttpServer>[0]> = {}) {
  const server = await startHttpServer({ listen: '127.0.0.1:0', routes, ...opts });
  servers.push(server);
  return server;
}

afterEach(async () => {
  ready = false;
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('startHttpServer', () => {
  it('serves /metrics with the Prometheus content type', async () => {
    const s = await start();
    expect(s.address).toBe('127.0.0.1');
    expect(s.port).toBeGreaterThan(0);
    const r = await call(s, 'GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body).toContain('hostop_reconcile_total{result="success"} 0');
  });

  it('answers /healthz always and /readyz only once ready', async () => {
    const s = await start();
    expect((await call(s, 'GET', '/healthz')).status).toBe(200);
    const notReady = await call(s, 'GET', '/readyz');
    expect(notReady.status).toBe(503);
    ready = true;
    expect((await call(s, 'GET', '/readyz?verbose=1')).status).toBe(200);
  });

  it('serves /status as JSON', async () => {
    const s = await start();
    const r = await call(s, 'GET', '/status');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(r.body)).toEqual({ hosts: [{ name: 'web01', reachable: true }] });
  });

  it('is read-only: other methods get 405 with Allow; HEAD gets headers only', async () => {
    const s = await start();
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const r = await call(s, method, '/status');
      expect(r.status, method).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD');
    }
    const head = await call(s, 'HEAD', '/status');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
  });

  it('answers 404 for unknown paths', async () => {
    const s = await start();
    expect((await call(s, 'GET', '/status/../../etc/passwd')).status).toBe(404);
    expect((await call(s, 'GET', '/')).status).toBe(404);
  });

  it('with a token, requires the exact bearer token everywhere but /healthz and /readyz', async () => {
    const s = await start({ token: 's3cret-token' });
    expect((await call(s, 'GET', '/healthz')).status).toBe(200);
    // The probes stay open: a kubelet's httpGet cannot carry a token from a Secret.
    ready = true;
    expect((await call(s, 'GET', '/readyz')).status).toBe(200);
    for (const path of ['/metrics', '/status', '/nope']) {
      const none = await call(s, 'GET', path);
      expect(none.status, path).toBe(401);
      expect(none.headers['www-authenticate']).toBe('Bearer realm="hostop"');
      expect(none.body).not.toContain('hostop_');
    }
    for (const bad of [
      'Bearer s3cret-toke',
      'Bearer s3cret-token2',
      'Basic s3cret-token',
      's3cret-token',
      'Bearer ',
    ]) {
      expect((await call(s, 'GET', '/status', { authorization: bad })).status, bad).toBe(401);
    }
    const ok = await call(s, 'GET', '/status', { authorization: 'bearer s3cret-token' });
    expect(ok.status).toBe(200);
    const m = await call(s, 'GET', '/metrics', { authorization: 'Bearer s3cret-token' });
    expect(m.body).toContain('hostop_host_up');
  });

  it('answers 500 without details when a route throws, and logs the error', async () => {
    const sink = logSink();
    const s = await start({
      log: sink.log,
      routes: {
        ...routes,
        status: () => {
          throw new Error('password=hunter2 leaked?');
        },
      },
    });
    const r = await call(s, 'GET', '/status');
    expect(r.status).toBe(500);
    expect(r.body).toBe('internal error\n');
    expect(sink.errors).toEqual(['HTTP handler failed']);
  });

  it('warns when bound to a non-loopback address, not on loopback', async () => {
    const loop = logSink();
    await start({ listen: '127.0.0.1:0', log: loop.log });
    expect(loop.warnings).toEqual([]);
    const wide = logSink();
    const s = await start({ listen: '0.0.0.0:0', log: wide.log });
    expect(s.address).toBe('0.0.0.0');
    expect(wide.warnings).toHaveLength(1);
    expect(wide.warnings[0]).toMatch(/non-loopback/);
  });

  it.each(['9464', 'localhost', '127.0.0.1:99999', '[zz]:1', '::1:9464', ''])(
    'rejects listen %j',
    async (listen) => {
      await expect(startHttpServer({ listen, routes })).rejects.toMatchObject({
        code: 'InvalidListenAddress',
      });
    },
  );

  it('rejects an empty token and an address already in use', async () => {
    await expect(startHttpServer({ listen: '127.0.0.1:0', token: '', routes })).rejects.toMatchObject({
      code: 'EmptyHttpToken',
    });
    const s = await start();
    const err = await startHttpServer({ listen: `127.0.0.1:${s.port}`, routes }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostopError);
    expect(err).toMatchObject({ code: 'ListenFailed' });
  });

  it('close() resolves even with an idle keep-alive connection open', async () => {
    const s = await startHttpServer({ listen: '127.0.0.1:0', routes });
    await call(s, 'GET', '/healthz', { connection: 'keep-alive' });
    await s.close();
    await expect(call(s, 'GET', '/healthz')).rejects.toThrow();
  });
});
