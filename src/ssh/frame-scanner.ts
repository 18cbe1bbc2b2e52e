import { ProtocolError } from '../core/errors.js';

/** The marker that ends one request's output on a stream is `HOSTOP:<3-digit status>:<nonce>\n`. */
export const END_MARKER_PREFIX = 'HOSTOP:';

const PREFIX = Buffer.from(END_MARKER_PREFIX);
const STATUS_DIGITS = 3;

/** One stream's output of one request, once its end marker has arrived. */
export interface ScannedFrame {
  body: Buffer;
  /** The status printed in the marker (the request's `$?` on stdout; 0 on stderr). */
  status: number;
  /** Bytes after the marker: they belong to the next request. */
  rest: Buffer;
}

/**
 * Finds the end marker of one request in a byte stream that arrives in arbitrary chunks. The nonce is
 * fresh and random per request, so a script cannot print it by accident or design. Searching only the
 * new chunk plus a short overlap keeps a multi-MB output linear. Throws ProtocolError when the output
 * exceeds `maxBytes` or the bytes before the nonce are not a well-formed marker.
 */
export class FrameScanner {
  private readonly needle: Buffer;
  private chunks: Buffer[] = [];
  private size = 0;
  private overlap: Buffer = Buffer.alloc(0);

  constructor(
    nonce: string,
    private readonly maxBytes: number,
    private readonly host: string,
  ) {
    this.needle = Buffer.from(`:${nonce}\n`);
  }

  /** Feeds a chunk; returns the frame once the marker is complete, else undefined. */
  push(chunk: Buffer): ScannedFrame | undefined {
    const window = this.overlap.length === 0 ? chunk : Buffer.concat([this.overlap, chunk]);
    const at = window.indexOf(this.needle);
    const windowStart = this.size - this.overlap.length;
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (at === -1) {
      if (this.size > this.maxBytes) {
        throw new ProtocolError(`host ${this.host}: request output exceeds ${this.maxBytes} bytes`, {
          host: this.host,
        });
      }
      const keep = this.needle.length - 1;
      this.overlap = window.length > keep ? window.subarray(window.length - keep) : window;
      return undefined;
    }
    const all = Buffer.concat(this.chunks, this.size);
    const needleAt = windowStart + at;
    const markerAt = needleAt - STATUS_DIGITS - PREFIX.length;
    const status = markerAt < 0 ? '' : all.subarray(markerAt + PREFIX.length, needleAt).toString('latin1');
    if (!/^\d{3}$/.test(status) || !all.subarray(markerAt, markerAt + PREFIX.length).equals(PREFIX)) {
      throw new ProtocolError(`host ${this.host}: malformed end-of-request marker`, { host: this.host });
    }
    return {
      body: all.subarray(0, markerAt),
      status: Number(status),
      rest: all.subarray(needleAt + this.needle.length),
    };
  }
}
