import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { startHostop } from './fleet.js';

export interface RunningDaemon {
  proc: ChildProcess;
  url: string;
  stateDir: string;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  /** SIGTERM and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `hostop run DIR` on a free loopback port with its own state dir; resolves once it listens. */
export async function startDaemon(
  dir: string,
  args: string[] = [],
  stateDir = mkdtempSync(join(tmpdir(), 'hostop-state-')),
  /** The log line after which the daemon counts as started: 'serving http' (with --log-level debug) is earlier. */
  startedMsg = 'hostop running',
): Promise<RunningDaemon> {
  const proc = startHostop(['run', dir, '--listen', '127.0.0.1:0', '--state-dir', stateDir, ...args]);
  const logs: Record<string, unknown>[] = [];
  let buf = '';
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `daemon did not start: ${stderr}${logs.slice(-8).map((l) => `\n${JSON.stringify(l).slice(0, 400)}`)}`,
          ),
        ),
      60_000, // a loaded 2-core machine (a hundred lab hosts, other daemons busy) can take this long
    );
    proc.on('exit', (code) => reject(new Error(`daemon exited ${code}: ${stderr}`)));
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        try {
          const rec = JSON.parse(line) as Record<string, unknown>;
          logs.push(rec);
          if (rec.msg === startedMsg) {
            clearTimeout(timer);
            resolve(`http://${rec.listen as string}`);
          }
        } catch {
          // non-JSON output is a defect the tests will see in logs being empty
        }
      }
    });
  });
  return {
    proc,
    url,
    stateDir,
    logs,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        // Already gone (exited, or killed by a signal: then exitCode stays null and signalCode is set).
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve(proc.exitCode);
        proc.once('exit', (code) => resolve(code));
        proc.kill(signal);
      }),
  };
}

/** The value of one series from the daemon's /metrics, or undefined when absent. */
export async function metric(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** Polls `check` until it returns truthy or the deadline passes (then throws with the last value). */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T> | T,
  timeoutMs = 30_000,
  everyMs = 200,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < until) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** Runs `fn` against a daemon on `dir`; on failure prints the daemon's log (the only witness of what it did). */
export async function withDaemon(
  dir: string,
  args: string[],
  fn: (d: RunningDaemon) => Promise<void>,
  stateDir?: string,
) {
  const d = await startDaemon(dir, args, stateDir);
  try {
    await fn(d);
  } catch (e) {
    for (const l of d.logs.slice(-60)) console.error(JSON.stringify(l).slice(0, 500));
    throw e;
  } finally {
    // A daemon the test killed has exited already (and stop() would wait for an exit that has happened).
    if (d.proc.exitCode === null && d.proc.signalCode === null) expect(await d.stop()).toBe(0);
  }
}
