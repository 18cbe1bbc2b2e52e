import { createHash } from 'node:crypto';
import { Duplex } from 'node:stream';
import { type HostRequest, type HostScript, hostLayout } from '../../src/apply/host-scripts.js';
import { TimeoutError, TransportError } from '../../src/core/errors.js';
import type { HostRef } from '../../src/core/model.js';
import type {
  ExecutorSource,
  HostExecutor,
  RequestOptions,
  RunResult,
} from '../../src/engine/host-executor.js';
import { MAX_HASH_BYTES, PROBE_FORMAT_VERSION } from '../../src/probe/probe-script.js';
import { TEST_HOST } from './intents.js';

/** A path on the fake host. */
export interface FakeFile {
  /** `other`: a FIFO, socket or device node. Only a regular file has content (probe hashes, fetch reads it). */
  type: 'file' | 'dir' | 'symlink' | 'other';
  content: string;
  mode: string;
  owner: string;
  group: string;
}

export interface FakeUnit {
  active: string;
  enabled: string;
  /** systemd's LoadState (`loaded` when unset); a unit not in `units` at all is `not-found`. */
  load?: string;
  /** ExecMainStartTimestampMonotonic: moves when a new main process starts. */
  mainStart: number;
}

/** What a unit action returns; the default: it works. */
export type UnitHook = (unit: string, action: string) => { code: number; output?: string } | undefined;

/**
 * An in-memory host for unit tests of the engine: it acts on each script's request (not its shell text, which
 * the lab runs on real hosts) and answers in the exact formats the parsers accept. Files, units, installed
 * packages and programs, validators, the HTTP endpoints that health checks and the TCP ports that checks reach
 * through a forward, and failures (a hook before each request) are plain fields a test sets; `requests` records
 * what reached the host.
 */
export class FakeHost implements HostExecutor {
  readonly files = new Map<string, FakeFile>();
  readonly units = new Map<string, FakeUnit>();
  /** What answers HTTP on a port of the host (health checks, reload proofs); no entry: connection refused. */
  readonly http = new Map<number, (path: string) => { status: number; body?: string }>();
  /**
   * What a TCP connection from the host to `target:port` meets (checks: tcpReachable): `true` it is accepted
   * (and closed again), a string: the forward is refused for that reason. Not listed: as `http`.
   */
  readonly tcp = new Map<string, true | string>();
  /** Installed Debian packages, name -> version as dpkg-query prints it; no entry: not installed. */
  readonly packages = new Map<string, string>();
  /** false: the host has no dpkg-query, so the probe cannot read `packages` (`packages-unavailable`). */
  dpkgQuery = true;
  /** Programs by absolute path -> what `PROGRAM --version` prints; no entry: no such file. */
  readonly programs = new Map<string, string>();
  /** The requests that reached the host, in order. */
  readonly requests: HostRequest[] = [];
  /** A candidate's validator: by default every candidate is valid. */
  validator: (argv: string[], content: string) => { code: number; output: string } = () => ({
    code: 0,
    output: '',
  });
  /** Unit actions' results; by default each one works. */
  unitHook: UnitHook = () => undefined;
  /** Runs before each request reaches the host: throw to lose the connection, await to stall it. */
  before: (r: HostRequest) => void | Promise<void> = () => undefined;
  closed = 0;
  private readonly saved = new Map<string, FakeFile>();
  private clock = 1;

  constructor(readonly host: HostRef = TEST_HOST) {}

  /** A regular root-owned 0644 file (override any field). */
  write(path: string, content: string, over: Partial<FakeFile> = {}): void {
    this.files.set(path, { type: 'file', content, mode: '0644', owner: 'root', group: 'root', ...over });
  }

  unit(name: string, over: Partial<FakeUnit> = {}): FakeUnit {
    const u = { active: 'active', enabled: 'enabled', mainStart: this.clock++, ...over };
    this.units.set(name, u);
    return u;
  }

  /** The ops that reached the host, e.g. ['probe', 'stage', 'activate', 'probe']. */
  ops(): string[] {
    return this.requests.map((r) => r.op);
  }

  async run(script: HostScript, opts: RequestOptions): Promise<RunResult> {
    const r = script.request;
    await abortable(Promise.resolve(this.before(r)), opts, this.host.name);
    this.requests.push(r);
    return { code: 0, stdout: Buffer.from(this.answer(r), 'latin1'), stderr: Buffer.alloc(0) };
  }

  async forwardTcp(target: string, port: number, opts: RequestOptions): Promise<Duplex> {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const tcp = this.tcp.get(`${target}:${port}`);
    if (tcp === true) return idleStream();
    const serve = this.http.get(port);
    // In the words of the real connection (ssh/host-connection.ts forwardTcp), which checks print as the reason.
    if (typeof tcp === 'string' || !serve)
      throw new TransportError(
        'ForwardRefused',
        `host ${this.host.name} cannot open ${target}:${port}: ${tcp ?? 'connection refused'}`,
        true,
        { host: this.host.name },
      );
    return httpStream(serve);
  }

  close(): void {
    this.closed++;
  }

  private answer(r: HostRequest): string {
    switch (r.op) {
      case 'probe':
        return this.probe(r.probe);
      case 'fetch':
        return `${r.paths.map((p, i) => this.fetchLine(p, i, r.maxBytes)).join('')}end ${r.paths.length}\n`;
      case 'stage':
        return r.items
          .map((it, i) => {
            this.write(hostLayout.candidate(it.path), it.content, it);
            if (!it.validate) return `staged ${i} 0 \n`;
            const v = this.validator(it.validate.argv, it.content);
            return `staged ${i} 0 \nvalidated ${i} ${v.code} ${b64(v.output)}\n`;
          })
          .join('');
      case 'activate': {
        const out = r.items.map((it, i) => {
          const now = this.files.get(it.path);
          if (now) {
            this.saved.set(`backup${it.path}`, { ...now });
            if (it.keepOriginal && !this.saved.has(`original${it.path}`))
              this.saved.set(`original${it.path}`, { ...now });
          }
          const candidate = this.files.get(hostLayout.candidate(it.path));
          if (!candidate) return `activated ${i} 1 ${now ? 'existed' : 'absent'}\n`;
          this.files.set(it.path, candidate);
          this.files.delete(hostLayout.candidate(it.path));
          return `activated ${i} 0 ${now ? 'existed' : 'absent'}\n`;
        });
        r.chmods.forEach((c, i) => {
          const f = this.files.get(c.path);
          if (f) Object.assign(f, { mode: c.mode, owner: c.owner, group: c.group });
          out.push(`fixed ${i} ${f ? 0 : 1}\n`);
        });
        for (const p of r.unstage) this.files.delete(hostLayout.candidate(p));
        return out.join('') + this.finish(r.change);
      }
      case 'restore': {
        const out = r.items.map((it, i) => {
          if (!it.existed) this.files.delete(it.path);
          else {
            const saved = this.saved.get(`${it.from}${it.path}`);
            if (saved) this.files.set(it.path, { ...saved });
            if (it.from === 'original') this.saved.delete(`original${it.path}`);
          }
          return `restored ${i} 0\n`;
        });
        return out.join('') + this.finish(r.change);
      }
      case 'unstage':
        for (const p of r.paths) this.files.delete(hostLayout.candidate(p));
        return 'unstaged\n';
      case 'watch':
        throw new Error('a watch is streamed, never run: the fake host has no stream()');
      case 'debs':
      case 'upload':
      case 'install':
        throw new Error('packages are exercised on real hosts (test/lab/packages.test.ts), not on the fake');
      case 'fence':
        throw new Error(
          'fencing is exercised on real hosts and the real sh (test/lab/cluster.test.ts), not on the fake',
        );
    }
  }

  /** The tail of a changing script: the inventory, daemon-reload, the unit actions. */
  private finish(change: {
    inventory: string;
    daemonReload: boolean;
    units: { unit: string; action: string }[];
  }) {
    this.write(hostLayout.inventory, change.inventory, { mode: '0600' });
    const lines = ['inventory 0'];
    if (change.daemonReload) lines.push('daemon-reload 0');
    change.units.forEach(({ unit, action }, i) => {
      const u = this.units.get(unit) ?? this.unit(unit, { active: 'inactive', enabled: 'disabled' });
      const before = u.mainStart;
      const hooked = this.unitHook(unit, action);
      if (!hooked || hooked.code === 0) {
        if (action === 'restart' || (action === 'start' && u.active !== 'active')) {
          u.active = 'active';
          u.mainStart = this.clock++;
        } else if (action === 'stop') u.active = 'inactive';
        else if (action === 'enable') u.enabled = 'enabled';
        else if (action === 'disable') u.enabled = 'disabled';
      }
      lines.push(`unit ${i} ${hooked?.code ?? 0} ${before} ${u.mainStart} ${b64(hooked?.output ?? '')}`);
    });
    return `${lines.join('\n')}\n`;
  }

  /** As fetch-script.ts: at most maxBytes + 1 bytes of a file (one byte more tells it is too large). */
  private fetchLine(path: string, i: number, maxBytes: number): string {
    const f = this.files.get(path);
    if (!f) return `missing ${i}\n`;
    if (f.type !== 'file') return `not-file ${i}\n`;
    return `content ${i} ${Buffer.from(f.content, 'utf8')
      .subarray(0, maxBytes + 1)
      .toString('base64')}\n`;
  }

  /**
   * The probe's output format (probe-parse.ts): every regular file hashed, except one larger than the hash bound
   * (`big`) or, for a file the request gives a wanted size, of another size (`size`), as the real script does.
   */
  private probe(req: Extract<HostRequest, { op: 'probe' }>['probe']): string {
    const out = [
      `hostop-probe ${PROBE_FORMAT_VERSION}`,
      `hostname ${this.host.name}`,
      'os "Debian GNU/Linux 12"',
    ];
    out.push('systemd 1');
    req.paths.forEach((path, i) => {
      const f = this.files.get(path);
      if (!f) return out.push(`missing ${i}`);
      const size = Buffer.byteLength(f.content);
      const type = { file: 0o100000, dir: 0o040000, symlink: 0o120000, other: 0o010000 }[f.type];
      const id = (name: string) => (name === 'root' ? 0 : 1000);
      const signature = `1:${i + 1}:${size}:${this.clock}.000000000:${this.clock++}.000000000`;
      out.push(
        `stat ${i} ${(type | Number.parseInt(f.mode, 8)).toString(16)} ${size} ${id(f.owner)} ${id(f.group)} ${f.owner} ${f.group} ${signature}`,
      );
      if (f.type !== 'file') return;
      const wanted = req.sizes?.[path];
      if (size > MAX_HASH_BYTES) out.push(`sha256 ${i} big`);
      else if (wanted !== undefined && wanted !== size) out.push(`sha256 ${i} size`);
      else out.push(`sha256 ${i} ${createHash('sha256').update(f.content).digest('hex')}`);
    });
    if (req.units.length > 0) {
      out.push('units-begin');
      for (const name of req.units) {
        const u = this.units.get(name);
        out.push(
          `Id=${name}`,
          `LoadState=${u ? (u.load ?? 'loaded') : 'not-found'}`,
          `ActiveState=${u?.active ?? 'inactive'}`,
          `UnitFileState=${u?.enabled ?? ''}`,
          '',
        );
      }
      out.push('units-end 0');
    }
    (req.inline ?? []).forEach((path, j) => {
      const f = this.files.get(path);
      out.push(`inline ${j} ${f?.type === 'file' ? b64(f.content) : '-'}`);
    });
    if (req.packages?.length) out.push(...this.packageLines(req));
    (req.programs ?? []).forEach((p, j) => {
      const said = this.programs.get(p);
      if (said === undefined) return out.push(`program ${j} -`);
      // The program file's signature (stat -L): here it moves exactly when what the program says does.
      const signature = signatureOf(said);
      if (req.knownPrograms?.[p]?.signature === signature) return out.push(`program ${j} same`);
      // The first 200 bytes of what it printed.
      const shown = Buffer.from(said, 'utf8').subarray(0, 200).toString('base64');
      return out.push(`program ${j} ${signature} ${shown}`);
    });
    out.push(`end ${req.paths.length} ${req.units.length}`);
    return `${out.join('\n')}\n`;
  }

  /**
   * dpkg-query's records (Package, Status-Abbrev, Version) of the installed packages asked for, under the
   * signature of dpkg's status database, which moves with every install or removal (here: with `packages`).
   */
  private packageLines(req: Extract<HostRequest, { op: 'probe' }>['probe']): string[] {
    const names = req.packages ?? [];
    if (!this.dpkgQuery) return ['packages-unavailable'];
    const installed = names.filter((n) => this.packages.has(n));
    const signature = signatureOf(JSON.stringify([...this.packages].sort()));
    if (req.knownPackages?.names === names.join(' ') && req.knownPackages.signature === signature)
      return ['packages-same'];
    return [
      `packages-begin ${signature}`,
      ...installed.map((n) => `${n}\tii \t${this.packages.get(n)}`),
      'packages-end',
    ];
  }
}

/** The pool of a pass: one fake host per name. */
export function fakePool(...hosts: FakeHost[]): ExecutorSource {
  return {
    connection: async (ref) => {
      const h = hosts.find((x) => x.host.name === ref.name);
      if (!h) throw new TransportError('ConnectFailed', `${ref.name}: connect ECONNREFUSED`, true);
      return h;
    },
  };
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** A stat signature (`dev:inode:size:mtime.ns:ctime.ns`) that moves exactly when `s` does. */
function signatureOf(s: string): string {
  const t = Number.parseInt(createHash('sha256').update(s).digest('hex').slice(0, 12), 16);
  return `1:0:${Buffer.byteLength(s)}:${t}.000000000:${t}.000000000`;
}

/** Settles with `p`, or rejects at the request's deadline or abort, as the real connection does. */
function abortable<T>(p: Promise<T>, opts: RequestOptions, host: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new TimeoutError('request', opts.timeoutMs, { host })),
      opts.timeoutMs,
    );
    const onAbort = () => reject(opts.signal?.reason);
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    });
  });
}

/** A forwarded TCP stream to a port that accepts and says nothing (a check only opens and closes it). */
function idleStream(): Duplex {
  return new Duplex({
    read() {},
    write(_chunk, _enc, cb) {
      cb();
    },
  });
}

/** A forwarded TCP stream to a one-request HTTP/1.1 server answering from `serve`. */
function httpStream(serve: (path: string) => { status: number; body?: string }): Duplex {
  let request = '';
  const stream: Duplex = new Duplex({
    read() {},
    write(chunk, _enc, cb) {
      request += chunk.toString('latin1');
      if (request.includes('\r\n\r\n') && !stream.readableEnded) {
        const path = /^GET (\S+) HTTP\/1\.[01]\r\n/.exec(request)?.[1] ?? '/';
        const { status, body = '' } = serve(path);
        stream.push(
          `HTTP/1.1 ${status} X\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
        stream.push(null);
      }
      cb();
    },
  });
  return stream;
}
