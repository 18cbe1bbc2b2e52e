import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ClientChannel } from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { TimeoutError, TransportError } from '../../../src/core/errors.js';
import { deadline } from '../../../src/ssh/deadline.js';
import { UnquotableArgumentError } from '../../../src/ssh/quote.js';
import { ShellChannel } from '../../../src/ssh/shell-channel.js';

// The framing is exercised against a real local `sh` (dash): an SSH exec channel carries exactly these
// three byte streams, so only the transport around them differs from a remote host.
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

function localShell(argv = ['sh']): ShellChannel {
  // Own process group, so a test can kill the shell together with the command it is running.
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  children.push(child);
  const stream = Object.assign(new EventEmitter(), {
    stderr: child.stderr,
    write: (t: string) => child.stdin.write(t),
    close: () => child.kill('SIGKILL'),
  });
  child.stdin.on('error', () => {});
  child.stdout.on('data', (d: Buffer) => stream.emit('data', d));
  child.on('exit', (code, sig) => stream.emit('exit', code, sig ?? undefined));
  child.on('close', () => stream.emit('close'));
  return new ShellChannel(stream as unknown as ClientChannel, 'local', 64 * 1024 * 1024, (exit) => {
    return new TransportError(
      'ChannelClosed',
      `shell exited (${exit.code ?? exit.signal}) started=${exit.started}`,
      true,
    );
  });
}

function run(ch: ShellChannel, script: string, ms = 10_000) {
  const dl = deadline('request', ms, 'local');
  return ch.run(script, dl.signal).finally(() => dl.dispose());
}

describe('ShellChannel over a real sh', () => {
  it('runs requests in turn with their own status, stdout and stderr', async () => {
    const ch = localShell();
    const a = await run(ch, 'echo out; echo err >&2; exit 3');
    expect([a.code, a.stdout.toString(), a.stderr.toString()]).toEqual([3, 'out\n', 'err\n']);
    const b = await run(ch, 'printf no-newline');
    expect([b.code, b.stdout.toString(), b.stderr.toString()]).toEqual([0, 'no-newline', '']);
  });

  it('keeps each request in its own subshell: exit, cd and variables do not leak', async () => {
    const ch = localShell();
    await run(ch, 'cd /tmp; X=leaked; exit 0');
    const r = await run(ch, 'pwd; echo "x=${X-unset}"');
    expect(r.stdout.toString()).not.toBe('/tmp\n');
    expect(r.stdout.toString()).toMatch(/x=unset\n$/);
  });

  it('confines a syntax error to its request', async () => {
    const ch = localShell();
    const bad = await run(ch, 'echo "unterminated');
    expect(bad.code).toBe(2);
    expect(bad.stderr.toString()).toMatch(/Syntax error|unterminated/i);
    expect((await run(ch, 'echo ok')).stdout.toString()).toBe('ok\n');
  });

  it('gives a script /dev/null as stdin, so it cannot eat the next request', async () => {
    const ch = localShell();
    expect((await run(ch, 'cat; echo done')).stdout.toString()).toBe('done\n');
    expect((await run(ch, 'echo next')).stdout.toString()).toBe('next\n');
  });

  it('carries a script of several MB (base64 in a quoted heredoc) and binary output', async () => {
    const ch = localShell();
    const data = randomBytes(3 * 1024 * 1024);
    const b64 = data.toString('base64').replace(/.{76}/g, '$&\n');
    const r = await run(ch, `base64 -d <<'EOF_DATA' | sha256sum\n${b64}\nEOF_DATA\n`);
    expect(r.stdout.toString().slice(0, 64)).toBe(createHash('sha256').update(data).digest('hex'));
    const bin = await run(ch, "printf '\\000\\001\\377HOSTOP:000:'");
    expect([...bin.stdout]).toEqual([0, 1, 255, ...Buffer.from('HOSTOP:000:')]);
  });

  it('discards login noise printed before the first request', async () => {
    const ch = localShell(['sh', '-c', 'echo motd; echo sudo-warning >&2; exec sh']);
    const r = await run(ch, 'echo clean');
    expect([r.stdout.toString(), r.stderr.toString()]).toEqual(['clean\n', '']);
  });

  it('refuses a script with NUL before writing anything, and stays usable', async () => {
    const ch = localShell();
    await expect(run(ch, 'echo a\0b')).rejects.toBeInstanceOf(UnquotableArgumentError);
    expect((await run(ch, 'echo ok')).stdout.toString()).toBe('ok\n');
  });

  it('on a deadline rejects with TimeoutError and discards the channel', async () => {
    const ch = localShell();
    const err = await run(ch, 'sleep 5', 200).catch((e) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(ch.closed).toBe(true);
    await expect(run(ch, 'echo again')).rejects.toBeInstanceOf(TimeoutError);
  });

  it('when the shell dies mid-request rejects with the end reason', async () => {
    const ch = localShell();
    await run(ch, 'true');
    const pending = run(ch, 'sleep 5');
    process.kill(-(children[0]?.pid as number), 'SIGTERM');
    await expect(pending).rejects.toThrow(/shell exited \(SIGTERM\) started=true/);
    expect(ch.closed).toBe(true);
  });

  it('reports a shell that dies before the first request as not started', async () => {
    const ch = localShell(['sh', '-c', 'echo "sudo: a password is required" >&2; exit 1']);
    await expect(run(ch, 'echo x')).rejects.toThrow(/shell exited \(1\) started=false/);
  });
});
