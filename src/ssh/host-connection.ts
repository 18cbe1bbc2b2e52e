import { constants } from 'node:os';
import type { Duplex } from 'node:stream';
import { Client, type ClientChannel } from 'ssh2';
import type { HostScript } from '../apply/host-scripts.js';
import { type HostopError, TransportError } from '../core/errors.js';
import type { HostRef } from '../core/model.js';
import { connectError } from './connect-error.js';
import { deadline, untilAborted, whenAborted } from './deadline.js';
import { hostKeyAlgorithms, hostKeyMismatch, parsePinnedKey } from './host-key.js';
import { quoteArgv } from './quote.js';
import { type RunResult, ShellChannel } from './shell-channel.js';

export type { RunResult } from './shell-channel.js';

/** Per-host tallies, owned by the pool so they survive reconnects. Tests and benchmarks assert on them. */
export interface TransportCounters {
  connectionsOpened: number;
  /**
   * Session channels: the persistent shell (once per connection unless discarded) and one-off execs.
   * forwardTcp's direct-tcpip channels (one per health or reachability check, by design) are counted apart.
   */
  channelsOpened: number;
  /** direct-tcpip channels opened by forwardTcp (health and reachability checks). */
  forwardsOpened: number;
  /** Round trips: `run()` and `exec()` calls that reached the host. */
  requests: number;
}

export interface ConnectOptions {
  /** The private key bytes (OpenSSH or PEM); the pool reads each identityFile once. */
  privateKey: Buffer;
  timeoutMs: number;
  signal?: AbortSignal;
  keepaliveIntervalMs: number;
  /** Upper bound on one request's stdout or stderr; beyond it the request fails. */
  maxOutputBytes: number;
}

/** Deadline and cancellation of one request. */
import type { HostExecutor, HostStream, RequestOptions } from '../engine/host-executor.js';

export type { RequestOptions };

/**
 * One authenticated SSH connection to one host (ssh2 Client): key auth only (no password, keyboard-
 * interactive or agent, no agent forwarding), the server's key checked against the pinned `hostKey`.
 * Requests go over one persistent shell channel (`sh`, or `sudo -n sh` for privilege `sudo`), one at a
 * time. Once the connection drops, `closed` is true and every call rejects with `ConnectionLost`; the
 * pool then opens a new connection. A request that times out or is aborted discards only the channel.
 */
export class HostConnection implements HostExecutor {
  private lost?: HostopError;
  private shell?: ShellChannel;
  private opening?: Promise<ShellChannel>;
  private tail: Promise<void> = Promise.resolve();

  private constructor(
    readonly host: HostRef,
    private readonly client: Client,
    private readonly opts: ConnectOptions,
    private readonly counters: TransportCounters,
  ) {
    const onLost = (why: string) => () => {
      this.lost ??= new TransportError(
        'ConnectionLost',
        `host ${host.name}: connection lost (${why}); will reconnect`,
        true,
        {
          host: host.name,
        },
      );
    };
    client.on('error', (e: Error) => onLost(e.message)());
    client.on('end', onLost('closed by the server'));
    client.on('close', onLost('closed'));
  }

  /**
   * Connects and authenticates within `opts.timeoutMs` (or until `opts.signal` aborts). Rejects with
   * TransportError `HostKeyMismatch` (nothing is sent after key exchange), `AuthFailed`, `ConnectRefused`,
   * `HostUnreachable`, `ConnectTimeout`/TimeoutError, `HostKeyInvalid` or `ConnectionLost`.
   */
  static open(host: HostRef, opts: ConnectOptions, counters: TransportCounters): Promise<HostConnection> {
    const pinned = parsePinnedKey(host.hostKey, host.name);
    const endpoint = `${host.address}:${host.port}`;
    const client = new Client();
    const dl = deadline('connect', opts.timeoutMs, host.name, opts.signal);
    let presented: Buffer | undefined;
    return new Promise<HostConnection>((resolve, reject) => {
      let detach = () => {};
      const settle = () => {
        dl.dispose();
        detach();
        client.removeListener('error', onError).removeListener('close', onClose);
      };
      const fail = (err: HostopError) => {
        settle();
        client.removeAllListeners('ready');
        client.on('error', () => {}); // late socket errors of the abandoned client
        client.destroy();
        reject(err);
      };
      const onError = (e: unknown) => {
        if (presented && !presented.equals(pinned.blob))
          fail(hostKeyMismatch(host, endpoint, pinned.blob, presented));
        else fail(connectError(e, host.name, endpoint));
      };
      const onClose = () =>
        fail(connectError(new Error('connection closed during handshake'), host.name, endpoint));
      client.on('error', onError).on('close', onClose);
      client.once('ready', () => {
        settle();
        counters.connectionsOpened++;
        resolve(new HostConnection(host, client, opts, counters));
      });
      detach = whenAborted(dl.signal, fail);
      if (dl.signal.aborted) return;
      try {
        client.connect({
          host: host.address,
          port: host.port,
          username: host.user,
          privateKey: opts.privateKey,
          authHandler: ['publickey'],
          tryKeyboard: false,
          agentForward: false,
          hostVerifier: (key: Buffer) => {
            presented = key;
            return key.equals(pinned.blob);
          },
          algorithms: { serverHostKey: hostKeyAlgorithms(pinned.type) },
          readyTimeout: opts.timeoutMs,
          keepaliveInterval: opts.keepaliveIntervalMs,
          keepaliveCountMax: 3,
        });
      } catch (e) {
        const why = `identityFile is not a usable private key (${e instanceof Error ? e.message : String(e)})`;
        fail(
          new TransportError('AuthFailed', `host ${host.name}: ${why}`, false, { host: host.name, cause: e }),
        );
      }
    });
  }

  get closed(): boolean {
    return this.lost !== undefined;
  }

  /**
   * Runs a script (fixed text + quoteArgv words) on the persistent shell channel; one round trip.
   * Requests to this host are serialized; the deadline covers waiting for the turn. Rejects with a
   * TimeoutError / the abort reason (the channel is discarded), ConnectionLost, ChannelClosed or
   * PrivilegeFailed (`sudo -n` refused). A non-zero exit status is a result, not an error.
   */
  async run(script: HostScript | string, opts: RequestOptions): Promise<RunResult> {
    const text = typeof script === 'string' ? script : script.text;
    const dl = deadline('request', opts.timeoutMs, this.host.name, opts.signal);
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => {
      release = r;
    });
    try {
      await untilAborted(prev, dl.signal);
      const shell = await untilAborted(this.shellChannel(), dl.signal);
      this.counters.requests++;
      return await shell.run(text, dl.signal);
    } finally {
      dl.dispose();
      void prev.then(release);
    }
  }

  /**
   * Runs argv on a new exec channel (about 17 ms of sshd set-up: for the rare cases that need their
   * own process, never the probe). `stdin` is written and closed. With privilege `sudo` it runs under
   * `sudo -n --`. A process killed by a signal reports 128 + the signal number, as sh does.
   */
  exec(argv: string[], opts: RequestOptions & { stdin?: Buffer }): Promise<RunResult> {
    const command = this.commandLine(argv);
    const dl = deadline('exec', opts.timeoutMs, this.host.name, opts.signal);
    this.counters.requests++;
    const run = this.channel('session', (cb) => this.client.exec(command, cb)).then(
      (stream) =>
        new Promise<RunResult>((resolve, reject) => {
          const out: Buffer[] = [];
          const err: Buffer[] = [];
          let code = 255;
          stream.on('data', (c: Buffer) => out.push(c));
          stream.stderr.on('data', (c: Buffer) => err.push(c));
          stream.on('exit', (c: number | null, sig?: string) => {
            code = c ?? 128 + (constants.signals[sig as keyof typeof constants.signals] ?? 0);
          });
          stream.on('close', () => {
            if (this.lost) reject(this.lost);
            else resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
          });
          whenAborted(dl.signal, () => stream.close());
          stream.end(opts.stdin);
        }),
    );
    return untilAborted(run, dl.signal).finally(() => dl.dispose());
  }

  /**
   * Starts a long-lived script (the host watch) on an exec channel of its own: `sh -c SCRIPT`, under `sudo -n`
   * for privilege `sudo`, no pty (so sshd signals nothing; the script ends itself on stdin EOF). The deadline
   * covers opening the channel only; the caller owns the returned stream.
   */
  stream(script: HostScript, opts: RequestOptions): Promise<HostStream> {
    const command = this.commandLine(['sh', '-c', script.text]);
    const dl = deadline('watch', opts.timeoutMs, this.host.name, opts.signal);
    this.counters.requests++;
    const open = this.channel('session', (cb) => this.client.exec(command, cb));
    open.then(
      (stream) => {
        if (dl.signal.aborted) stream.close();
      },
      () => {},
    );
    return untilAborted<HostStream>(open, dl.signal).finally(() => dl.dispose());
  }

  /**
   * Opens a TCP connection from the host to `host:port` (direct-tcpip): what the host itself can
   * reach, without a process on it. Rejects with TransportError `ForwardRefused` (retryable: the
   * target refused or is unreachable from the host), `ForwardProhibited` (sshd forbids forwarding),
   * ConnectionLost, or the deadline's reason. The caller owns and must end the returned stream.
   */
  forwardTcp(host: string, port: number, opts: RequestOptions): Promise<Duplex> {
    const dl = deadline(`forward to ${host}:${port}`, opts.timeoutMs, this.host.name, opts.signal);
    const open = this.channel(
      'forward',
      (cb) => this.client.forwardOut('127.0.0.1', 0, host, port, cb),
      (e) => {
        const reason = (e as { reason?: number }).reason;
        const where = `host ${this.host.name} cannot open ${host}:${port}`;
        if (reason === 1)
          return new TransportError('ForwardProhibited', `${where}: sshd forbids TCP forwarding`, false, {
            host: this.host.name,
          });
        return new TransportError('ForwardRefused', `${where}: ${e.message}`, true, {
          host: this.host.name,
          cause: e,
        });
      },
    );
    open.then(
      (stream) => {
        if (dl.signal.aborted) stream.destroy();
      },
      () => {},
    );
    return untilAborted<Duplex>(open, dl.signal).finally(() => dl.dispose());
  }

  /** Ends the connection; in-flight requests reject with ConnectionLost. */
  close(): void {
    this.lost ??= new TransportError(
      'ConnectionLost',
      `host ${this.host.name}: connection closed by hostop`,
      true,
      { host: this.host.name },
    );
    this.shell?.close();
    this.client.end();
  }

  /** argv as one exec command line, under `sudo -n --` for privilege `sudo`. */
  private commandLine(argv: string[]): string {
    return quoteArgv(this.host.privilege === 'sudo' ? ['sudo', '-n', '--', ...argv] : argv);
  }

  private shellChannel(): Promise<ShellChannel> {
    if (this.shell && !this.shell.closed) return Promise.resolve(this.shell);
    this.opening ??= this.channel('session', (cb) =>
      this.client.exec(this.host.privilege === 'sudo' ? 'sudo -n sh' : 'sh', cb),
    )
      .then((stream) => {
        this.shell = new ShellChannel(stream, this.host.name, this.opts.maxOutputBytes, (exit) =>
          this.shellEnded(exit),
        );
        return this.shell;
      })
      .finally(() => {
        this.opening = undefined;
      });
    return this.opening;
  }

  private shellEnded(exit: {
    code?: number;
    signal?: string;
    stderr: string;
    started: boolean;
  }): HostopError {
    if (this.lost) return this.lost;
    const how = exit.signal ? `signal ${exit.signal}` : `status ${exit.code ?? 'unknown'}`;
    const said = exit.stderr.trim() ? `: ${exit.stderr.trim()}` : '';
    const host = this.host.name;
    if (!exit.started && this.host.privilege === 'sudo') {
      return new TransportError(
        'PrivilegeFailed',
        `host ${host}: \`sudo -n sh\` as ${this.host.user} failed (${how})${said}; ` +
          'grant passwordless sudo or use user root',
        false,
        { host },
      );
    }
    return new TransportError('ChannelClosed', `host ${host}: remote shell exited (${how})${said}`, true, {
      host,
    });
  }

  /** Opens one channel; open failures become ConnectionLost unless `mapError` says otherwise. */
  private channel(
    kind: 'session' | 'forward',
    open: (cb: (err: Error | undefined, stream: ClientChannel) => void) => void,
    mapError?: (e: Error) => HostopError,
  ): Promise<ClientChannel> {
    if (this.lost) return Promise.reject(this.lost);
    if (kind === 'session') this.counters.channelsOpened++;
    else this.counters.forwardsOpened++;
    return new Promise<ClientChannel>((resolve, reject) => {
      open((err, stream) => {
        if (!err) return resolve(stream);
        if (this.lost) return reject(this.lost);
        reject(
          mapError?.(err) ??
            new TransportError(
              'ChannelOpenFailed',
              `host ${this.host.name}: cannot open a channel (${err.message})`,
              true,
              {
                host: this.host.name,
                cause: err,
              },
            ),
        );
      });
    });
  }
}
