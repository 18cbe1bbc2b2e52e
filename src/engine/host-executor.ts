import type { Duplex, Readable } from 'node:stream';
import type { HostScript } from '../apply/host-scripts.js';
import type { HostRef } from '../core/model.js';

/** A deadline and an abort for one request to a host. */
export interface RequestOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** What one script produced on the host. */
export interface RunResult {
  /** The script's exit status: 0–255. */
  code: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** A script that keeps running: its stdout is the stream's readable side, its stdin the writable side. */
export type HostStream = Duplex & { readonly stderr: Readable };

/**
 * The one seam between hostop and a host: run a POSIX sh script, open a TCP stream from the host's point of
 * view. The engine, the probe and the health checks depend on this, never on SSH: `ssh/host-connection.ts` is
 * the real one (it runs the script's text), `test/support/fake-host.ts` the in-memory one of the unit tests (it
 * acts on the script's request).
 */
export interface HostExecutor {
  readonly host: HostRef;
  /** Runs `script` (POSIX sh) on the host; rejects with a HostopError on a lost connection or the deadline. */
  run(script: HostScript, opts: RequestOptions): Promise<RunResult>;
  /** A TCP stream to `host:port` as seen from the host (health checks); rejects when refused or unreachable. */
  forwardTcp(host: string, port: number, opts: RequestOptions): Promise<Duplex>;
  /**
   * Starts `script` on a channel of its own and returns at once with its streams (the host watch); the caller
   * ends it by ending stdin or closing the stream. Rejects like `run` when the channel cannot be opened.
   */
  stream?(script: HostScript, opts: RequestOptions): Promise<HostStream>;
  /** Drops the connection (a host that stopped answering); the next request reconnects. */
  close(): void;
}

/** Where a pass gets the executor of a host (the daemon's pool of SSH connections). */
export interface ExecutorSource {
  connection(host: HostRef, signal?: AbortSignal): Promise<HostExecutor>;
}
