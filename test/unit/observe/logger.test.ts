import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { childFor, createLogger } from '../../../src/observe/logger.js';

/** Captures the JSON lines a logger writes. */
function capture() {
  const lines: string[] = [];
  const destination = { write: (s: string) => void lines.push(s) };
  const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, destination, parsed };
}

describe('createLogger', () => {
  it('writes one JSON line per call with level, time and message', () => {
    const out = capture();
    const log = createLogger({ destination: out.destination, pretty: false });
    log.info({ hosts: 3 }, 'snapshot loaded');
    const [line] = out.parsed();
    expect(line).toMatchObject({ level: 30, msg: 'snapshot loaded', hosts: 3 });
    expect(typeof line?.time).toBe('string');
  });

  it('masks secret-looking keys at any depth and in any case', () => {
    const out = capture();
    const log = createLogger({ destination: out.destination, pretty: false });
    const input = {
      password: 'p1',
      spec: {
        secureJsonData: { basicAuthPassword: 'p2' },
        jsonData: { httpHeaderName1: 'Authorization' },
        files: [{ path: '/etc/x', content: 'p3' }],
        exporter: { headers: { Authorization: 'Bearer p4' } },
        deeper: { a: { b: { accessToken: 'p5', Token: 'p6' } } },
      },
    };
    log.info(input, 'applied');
    const text = out.lines.join('');
    for (const s of ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']) expect(text).not.toContain(`"${s}"`);
    const [line] = out.parsed();
    expect(line).toMatchObject({
      password: '***',
      spec: {
        secureJsonData: '***',
        files: [{ path: '/etc/x', content: '***' }],
        exporter: { headers: '***' },
      },
    });
    // The caller's object is untouched.
    expect(input.spec.files[0]?.content).toBe('p3');
  });

  it('masks known secret values and credential shapes in messages, fields and errors', () => {
    const out = capture();
    let secrets: string[] = [];
    const log = createLogger({ destination: out.destination, pretty: false, knownSecrets: () => secrets });
    secrets = ['Grafana-DS-pw'];
    log.warn('validator said: password Grafana-DS-pw rejected');
    log.info({ stderr: 'line 3: Grafana-DS-pw' }, 'token=abc123');
    log.error(new Error('upload failed: Authorization: Bearer t0k'));
    log.error({ err: new Error('probe: Grafana-DS-pw') }, 'probe failed %s', 'Grafana-DS-pw');
    const text = out.lines.join('');
    for (const leak of ['Grafana-DS-pw', 'abc123', 't0k']) expect(text).not.toContain(leak);
    const lines = out.parsed();
    expect(lines[2]).toMatchObject({
      msg: 'upload failed: Authorization: Bearer ***',
      err: { type: 'Error' },
    });
    expect(lines[3]).toMatchObject({ msg: 'probe failed ***', err: { message: 'probe: ***' } });
  });

  it('keeps typed error fields and survives cycles', () => {
    const out = capture();
    const log = createLogger({ destination: out.destination, pretty: false });
    const err = Object.assign(new Error('boom'), { code: 'TransportError', host: 'web01' });
    const cyclic: Record<string, unknown> = { name: 'a' };
    cyclic.self = cyclic;
    log.error({ err, cyclic }, 'failed');
    const [line] = out.parsed();
    expect(line).toMatchObject({
      err: { type: 'Error', message: 'boom', code: 'TransportError', host: 'web01' },
      cyclic: { name: 'a', self: '[Circular]' },
    });
  });

  it('childFor binds the reconcile context, dropping undefined fields', () => {
    const out = capture();
    const log = createLogger({ destination: out.destination, pretty: false });
    const child = childFor(log, { reconcileId: 'r-1', host: 'web01', kind: undefined, name: undefined });
    child.info('probing');
    const [line] = out.parsed();
    expect(line).toMatchObject({ reconcileId: 'r-1', host: 'web01', msg: 'probing' });
    expect(line).not.toHaveProperty('kind');
  });

  it('pretty mode writes human-readable text, still masked', async () => {
    const chunks: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        chunks.push(String(chunk));
        cb();
      },
    });
    const log = createLogger({ destination, pretty: true });
    log.info({ token: 'zzz', host: 'web01' }, 'hello');
    await new Promise((r) => setImmediate(r));
    const text = chunks.join('');
    expect(text).toContain('INFO');
    expect(text).toContain('hello');
    expect(text).toContain('***');
    expect(text).not.toContain('zzz');
    expect(() => JSON.parse(text)).toThrow();
  });
});
