import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { sleep } from './stats.js';

/** One JSON log line of the daemon (pino); `time` is normalised to epoch milliseconds (the daemon writes ISO). */
export interface LogRecord {
  time: number;
  msg: string;
  host?: string;
  status?: string;
  durationMs?: number;
  [k: string]: unknown;
}

/**
 * A `hostop run` child process whose log lines are collected as they come. `stop` sends SIGTERM and waits
 * (SIGKILL after the deadline), so a failed benchmark never leaves a daemon running.
 */
export class DaemonProcess {
  /** Daemons still running, so an interrupted benchmark can end them (by their own pid). */
  private static readonly live = new Set<DaemonProcess>();
  readonly logs: LogRecord[] = [];
  private stderr = '';
  private constructor(private readonly proc: ChildProcess) {}

  get pid(): number {
    return this.proc.pid!;
  }

  static async start(repo: string, dir: string, args: string[]): Promise<DaemonProcess> {
    const proc = spawn(
      'node',
      [join(repo, 'bin', 'hostop.js'), 'run', dir, '--listen', '127.0.0.1:0', ...args],
      {
        cwd: repo,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const d = new DaemonProcess(proc);
    DaemonProcess.live.add(d);
    proc.once('exit', () => DaemonProcess.live.delete(d));
    let buf = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        try {
          const rec = JSON.parse(line) as LogRecord;
          if (typeof rec.time === 'string') rec.time = Date.parse(rec.time);
          d.logs.push(rec);
        } catch {
          // not a log record (never expected): ignored rather than fatal
        }
      }
    });
    proc.stderr!.on('data', (chunk: Buffer) => {
      d.stderr = (d.stderr + chunk.toString('utf8')).slice(-4000);
    });
    await d.waitFor((r) => r.msg === 'hostop running', 30_000, 'the daemon to listen');
    return d;
  }

  /** Resolves with the first record (from index `from`) matching `pred`; rejects after `timeoutMs`. */
  async waitFor(
    pred: (r: LogRecord) => boolean,
    timeoutMs: number,
    what: string,
    from = 0,
  ): Promise<LogRecord> {
    const deadline = Date.now() + timeoutMs;
    for (let i = from; ; ) {
      for (; i < this.logs.length; i++) if (pred(this.logs[i]!)) return this.logs[i]!;
      if (this.proc.exitCode !== null)
        throw new Error(`daemon exited (${this.proc.exitCode}) waiting for ${what}: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(5);
    }
  }

  /**
   * Waits until every host in `hosts` has logged a finished pass (msg "pass <status>") at index >= `from`;
   * returns the last record per host. Needs `--log-level debug` (in-sync passes log at debug).
   */
  async waitPasses(hosts: string[], from: number, timeoutMs: number): Promise<Map<string, LogRecord>> {
    const want = new Set(hosts);
    const seen = new Map<string, LogRecord>();
    const deadline = Date.now() + timeoutMs;
    for (let i = from; seen.size < want.size; ) {
      for (; i < this.logs.length; i++) {
        const r = this.logs[i]!;
        if (r.host && want.has(r.host) && r.msg.startsWith('pass ')) seen.set(r.host, r);
      }
      if (seen.size === want.size) break;
      if (this.proc.exitCode !== null)
        throw new Error(`daemon exited (${this.proc.exitCode}): ${this.stderr}`);
      if (Date.now() > deadline)
        throw new Error(`timed out: ${want.size - seen.size} of ${want.size} hosts finished no pass`);
      await sleep(5);
    }
    return seen;
  }

  /** SIGKILL to every daemon still running (for a benchmark that is being interrupted). */
  static killAll(): void {
    for (const d of DaemonProcess.live) d.proc.kill('SIGKILL');
  }

  signal(sig: NodeJS.Signals): void {
    this.proc.kill(sig);
  }

  async stop(timeoutMs = 70_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}
