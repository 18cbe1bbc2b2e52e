import { randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import { type HostopError, TransportError } from '../core/errors.js';
import { FrameScanner, type ScannedFrame } from './frame-scanner.js';
import { quoteArg } from './quote.js';

import type { RunResult } from '../engine/host-executor.js';

/** What one request on the shell channel produced (the script's status is `$?` of its subshell). */
export type { RunResult };

/** Why the channel ended, as the owner (HostConnection) knows it: the connection may be gone. */
export type ChannelEndReason = (exit: {
  code?: number;
  signal?: string;
  stderr: string;
  started: boolean;
}) => HostopError;

interface Frame {
  out: FrameScanner;
  err: FrameScanner;
  stdout?: ScannedFrame;
  stderr?: ScannedFrame;
  resolve(r: RunResult): void;
  reject(e: HostopError): void;
}

/**
 * One long-lived `sh` on the host that reads requests from its stdin, so a request costs a write and a
 * read instead of an SSH channel (about 17 ms of sshd set-up each). Each request runs as
 * `( eval 'SCRIPT' ) </dev/null`: the subshell keeps `exit`, `cd` and variables from leaking into the
 * next request, `eval` of a single-quoted word confines a syntax error in SCRIPT to that subshell, and
 * /dev/null keeps the script from reading the following requests. After it, `printf` writes an end
 * marker with a fresh random nonce and `$?` to stdout and one to stderr.
 *
 * The first bytes written are a sync frame whose output is discarded, so login noise (motd, sudo
 * warnings) never reaches a caller. Requests must not overlap: the owner serializes them.
 * Once anything goes wrong (deadline, abort, oversized output, the shell exits) the channel is closed
 * for good and every pending request is rejected; the owner opens a new one for the next request.
 */
export class ShellChannel {
  private readonly frames: Frame[] = [];
  private ended?: HostopError;
  private started = false;
  private stderrTail = '';

  constructor(
    private readonly stream: ClientChannel,
    private readonly host: string,
    private readonly maxOutputBytes: number,
    endReason: ChannelEndReason,
  ) {
    stream.on('data', (chunk: Buffer) => this.feed(chunk, 'out'));
    stream.stderr.on('data', (chunk: Buffer) => this.feed(chunk, 'err'));
    let exit: { code?: number; signal?: string } = {};
    stream.on('exit', (code: number | null, signal?: string) => {
      exit = { code: code ?? undefined, signal };
    });
    stream.on('close', () =>
      this.fail(endReason({ ...exit, stderr: this.stderrTail, started: this.started }), false),
    );
    // Stream errors are followed by 'close'; listening keeps them from being thrown.
    stream.on('error', () => {});
    this.write(
      this.frame(
        ':',
        () => {},
        () => {},
      ),
    );
  }

  get closed(): boolean {
    return this.ended !== undefined;
  }

  /**
   * Runs `script` (fixed text + quoteArgv words; never data spliced in) and resolves with its status and
   * output. Rejects with `signal.reason` when the signal aborts (the channel is then discarded), or with
   * the channel's end reason. Throws UnquotableArgumentError before writing if the script holds a NUL.
   */
  run(script: string, signal: AbortSignal): Promise<RunResult> {
    if (this.ended) return Promise.reject(this.ended);
    return new Promise<RunResult>((resolve, reject) => {
      const onAbort = () => this.fail(signal.reason as HostopError, true);
      const text = this.frame(
        script,
        (r) => {
          signal.removeEventListener('abort', onAbort);
          resolve(r);
        },
        (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.write(text);
    });
  }

  /** Closes the channel; pending requests are rejected with a ConnectionLost-family error. */
  close(): void {
    this.fail(
      new TransportError('ChannelClosed', `host ${this.host}: shell channel closed`, true, {
        host: this.host,
      }),
      true,
    );
  }

  private frame(script: string, resolve: (r: RunResult) => void, reject: (e: HostopError) => void): string {
    const body = quoteArg(script);
    const nonce = randomBytes(16).toString('hex');
    this.frames.push({
      out: new FrameScanner(nonce, this.maxOutputBytes, this.host),
      err: new FrameScanner(nonce, this.maxOutputBytes, this.host),
      resolve,
      reject,
    });
    return (
      `( eval ${body}\n) </dev/null\n` +
      `printf 'HOSTOP:%03d:%s\\n' "$?" ${nonce}\n` +
      `printf 'HOSTOP:000:%s\\n' ${nonce} >&2\n`
    );
  }

  private write(text: string): void {
    try {
      this.stream.write(text);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.fail(
        new TransportError(
          'ChannelClosed',
          `host ${this.host}: cannot write to the shell channel (${why})`,
          true,
          { host: this.host, cause: e },
        ),
        true,
      );
    }
  }

  private feed(chunk: Buffer, which: 'out' | 'err'): void {
    if (which === 'err') this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-500);
    const key = which === 'out' ? 'stdout' : 'stderr';
    let rest: Buffer = chunk;
    try {
      while (rest.length > 0) {
        // The oldest frame still waiting for this stream's marker: a frame can be done on stdout
        // while its stderr marker is in flight, and the next frame's stdout already arriving.
        const frame = this.frames.find((f) => f[key] === undefined);
        if (!frame) return; // stray output after every request finished: nobody waits for it
        const done = frame[which].push(rest);
        if (!done) return;
        frame[key] = done;
        rest = done.rest;
        this.completeFinished();
      }
    } catch (e) {
      this.fail(e as HostopError, true);
    }
  }

  private completeFinished(): void {
    for (let f = this.frames[0]; f?.stdout && f.stderr; f = this.frames[0]) {
      this.frames.shift();
      this.started = true;
      f.resolve({ code: f.stdout.status, stdout: f.stdout.body, stderr: f.stderr.body });
    }
  }

  private fail(reason: HostopError, closeStream: boolean): void {
    if (this.ended) return;
    this.ended = reason;
    for (const frame of this.frames.splice(0)) frame.reject(reason);
    if (closeStream) this.stream.close();
  }
}
