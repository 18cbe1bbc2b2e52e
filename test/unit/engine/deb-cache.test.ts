import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedDeb } from '../../../src/engine/deb-cache.js';

// A URL source's .deb through a real HTTP server on loopback and the real filesystem: fetched once, named by its
// hash only when the hash is right, bounded in size and time, nothing left behind when refused.
const DEB = Buffer.from('!<arch>\nnot really a package, but bytes with a hash\n');
const SHA = createHash('sha256').update(DEB).digest('hex');

describe('cachedDeb', () => {
  let server: Server;
  let base: string;
  const hits: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/stall') return; // headers never come
      if (req.url === '/big') {
        res.writeHead(200); // no content-length: the bound must hold while streaming
        const chunk = Buffer.alloc(64 * 1024, 1);
        for (let i = 0; i < 8; i++) res.write(chunk);
        return res.end();
      }
      if (req.url === '/missing') {
        res.writeHead(404);
        return res.end();
      }
      res.writeHead(200, { 'content-length': DEB.length });
      res.end(DEB);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('fetches once and then serves the copy named by its hash', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'hostop-debs-'));
    const first = await cachedDeb(`${base}/x.deb`, SHA, cache);
    expect(first).toBe(join(cache, `${SHA}.deb`));
    expect(readFileSync(first)).toEqual(DEB);
    const before = hits.length;
    expect(await cachedDeb(`${base}/x.deb`, SHA, cache)).toBe(first);
    expect(hits.length).toBe(before);
  });

  it('refuses another hash and keeps nothing', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'hostop-debs-'));
    await expect(cachedDeb(`${base}/x.deb`, 'a'.repeat(64), cache)).rejects.toThrow(
      `sha256 is ${SHA}, the Package declares ${'a'.repeat(64)}`,
    );
    expect(readdirSync(cache)).toEqual([]);
  });

  it('stops a download over the size bound, and says an HTTP error', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'hostop-debs-'));
    await expect(cachedDeb(`${base}/big`, SHA, cache, { maxBytes: 100_000 })).rejects.toThrow(
      'more than 100000 bytes, stopped',
    );
    await expect(cachedDeb(`${base}/missing`, SHA, cache)).rejects.toThrow('HTTP 404');
    expect(readdirSync(cache)).toEqual([]);
  });

  it('gives up on a server that does not answer within the deadline', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'hostop-debs-'));
    await expect(cachedDeb(`${base}/stall`, SHA, cache, { timeoutMs: 300 })).rejects.toThrow(
      `GET ${base}/stall: not finished within 300 ms`,
    );
    expect(readdirSync(cache)).toEqual([]);
  });
});
