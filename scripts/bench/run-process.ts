import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ProcessResult {
  /** Exit code; null when killed (timeout). */
  code: number | null;
  timedOut: boolean;
  /** Wall time from spawn to exit, measured here. */
  ms: number;
  stdout: string;
  stderr: string;
  /** From GNU time when `measure` was asked: peak RSS (KiB) and CPU seconds of the process and its reaped children. */
  maxRssKb?: number;
  cpuSeconds?: number;
}

export interface RunOptions {
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Wrap in /usr/bin/time to read peak RSS and CPU; adds a fork+exec (~1 ms) to the wall time. */
  measure?: boolean;
}

/**
 * Runs one command to completion. Never rejects for a non-zero exit: callers check `code`. On the deadline the
 * whole process group gets SIGKILL, so a hung ansible-playbook or ssh leaves nothing behind.
 */
export function runProcess(cmd: string, args: string[], opts: RunOptions): Promise<ProcessResult> {
  const timeDir = opts.measure ? mkdtempSync(join(tmpdir(), 'hostop-bench-time-')) : undefined;
  const timeFile = timeDir ? join(timeDir, 'time') : undefined;
  const [file, argv] = timeFile
    ? ['/usr/bin/time', ['-f', '%M %U %S', '-o', timeFile, cmd, ...args]]
    : [cmd, args];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(file, argv, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      const ms = performance.now() - started;
      clearTimeout(timer);
      const result: ProcessResult = {
        code,
        timedOut,
        ms,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (timeFile) {
        try {
          // GNU time prints "Command exited with non-zero status N" first when the command failed.
          const last = readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '';
          const [rss, user, sys] = last.split(' ').map(Number);
          if (Number.isFinite(rss)) result.maxRssKb = rss;
          if (Number.isFinite(user) && Number.isFinite(sys)) result.cpuSeconds = user! + sys!;
        } catch {
          // killed before time wrote its line: no measurement
        }
        rmSync(timeDir!, { recursive: true, force: true });
      }
      resolve(result);
    });
  });
}

/** The last lines of a command's output, for error messages that say what went wrong. */
export function tail(text: string, lines = 15): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
