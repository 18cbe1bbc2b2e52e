import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../src/core/errors.js';
import { FrameScanner } from '../../../src/ssh/frame-scanner.js';

const NONCE = '0123456789abcdef0123456789abcdef';
const marker = (status: number) => `HOSTOP:${String(status).padStart(3, '0')}:${NONCE}\n`;

/** Feeds chunks until the frame completes; `after` is what follows the marker (its rest + unfed chunks). */
function feed(scanner: FrameScanner, chunks: string[]) {
  for (const [i, c] of chunks.entries()) {
    const f = scanner.push(Buffer.from(c));
    if (f) return { ...f, after: f.rest.toString() + chunks.slice(i + 1).join('') };
  }
  return undefined;
}

describe('FrameScanner', () => {
  const whole = `hello\nworld${marker(7)}NEXT`;
  const cases: [string, string[]][] = [
    ['one chunk', [whole]],
    ['marker split in the nonce', [whole.slice(0, 20), whole.slice(20)]],
    ['marker split before the status', [whole.slice(0, 18), whole.slice(18)]],
    ['one byte at a time', [...whole]],
  ];
  it.each(cases)('finds the marker: %s', (_name, chunks) => {
    const f = feed(new FrameScanner(NONCE, 1e6, 'h1'), chunks);
    expect(f?.body.toString()).toBe('hello\nworld');
    expect(f?.status).toBe(7);
    expect(f?.after).toBe('NEXT');
  });

  it('output without a trailing newline and an empty body', () => {
    expect(feed(new FrameScanner(NONCE, 1e6, 'h1'), [`no-newline${marker(0)}`])?.body.toString()).toBe(
      'no-newline',
    );
    expect(feed(new FrameScanner(NONCE, 1e6, 'h1'), [marker(255)])?.status).toBe(255);
  });

  it('ignores a marker with another nonce (a script printing old or guessed markers)', () => {
    const fake = 'HOSTOP:000:ffffffffffffffffffffffffffffffff\n';
    const f = feed(new FrameScanner(NONCE, 1e6, 'h1'), [fake, `x${marker(1)}`]);
    expect(f?.body.toString()).toBe(`${fake}x`);
  });

  it('keeps binary output intact across many chunks', () => {
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 256;
    const s = new FrameScanner(NONCE, 1e6, 'h1');
    for (let i = 0; i < data.length; i += 4096) expect(s.push(data.subarray(i, i + 4096))).toBeUndefined();
    const f = s.push(Buffer.from(marker(0)));
    expect(f?.body.equals(data)).toBe(true);
  });

  it('rejects output over the bound and a malformed marker', () => {
    const s = new FrameScanner(NONCE, 10, 'h1');
    expect(() => s.push(Buffer.from('x'.repeat(11)))).toThrow(ProtocolError);
    expect(() => feed(new FrameScanner(NONCE, 1e6, 'h1'), [`HOSTOP:1x3:${NONCE}\n`])).toThrow(/malformed/);
    expect(() => feed(new FrameScanner(NONCE, 1e6, 'h1'), [`:${NONCE}\n`])).toThrow(/malformed/);
  });
});
