import { describe, expect, it } from 'vitest';
import { hostop } from '../support/fleet.js';

// The CLI run from source (no build needed): exit codes, help, and no stack traces for bad input.
describe('hostop CLI', () => {
  it('validate summarises the reference fleet and exits 0', async () => {
    const r = await hostop(['validate', 'desired-state']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/desired-state: valid/);
    expect(r.stdout).toMatch(/Host\s+16/);
    expect(r.stdout).toContain('monitoring-01');
  });

  it('validate --output json is machine-readable', async () => {
    const r = await hostop(['validate', 'desired-state', '-o', 'json']);
    const doc = JSON.parse(r.stdout) as { valid: boolean; summary: { hosts: unknown[] } };
    expect(doc.valid).toBe(true);
    expect(doc.summary.hosts).toHaveLength(16);
  });

  it('validate of a broken state exits 1 with file:line errors and no stack trace', async () => {
    const r = await hostop(['validate', 'test/broken/25-many-errors-at-once']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('test/broken/25-many-errors-at-once/bad.yaml:4: error:');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('plan refuses an invalid desired state before touching any host', async () => {
    const r = await hostop(['plan', 'test/broken/09-unknown-host']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown host "web-99"');
    expect(r.stderr).toContain('nothing was planned or touched');
  });

  it('a missing directory is one clear error', async () => {
    const r = await hostop(['validate', '/nonexistent/desired']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      '/nonexistent/desired: error: cannot read desired state: no such file or directory',
    );
  });

  it('status without a daemon or saved status says what to do, without a usage dump', async () => {
    const down = await hostop(['status', '--url', 'http://127.0.0.1:9']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(
      /^hostop status: cannot reach the daemon at http:\/\/127\.0\.0\.1:9 .*--state-dir/,
    );
    expect(down.stderr).not.toContain('Usage:');
    const none = await hostop(['status', '--state-dir', '/nonexistent/state']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('hostop status: cannot read /nonexistent/state/status.json');
  });

  it.each(['validate', 'render', 'plan', 'apply', 'run', 'status'])(
    '%s --help explains the command',
    async (cmd) => {
      const r = await hostop([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: hostop ${cmd}`);
      expect(r.stdout).toContain('Options:');
    },
  );

  it('hostop --help lists every command with its summary', async () => {
    const r = await hostop(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: hostop <command> [options]');
    for (const cmd of ['validate', 'render', 'plan', 'apply', 'run', 'status'])
      expect(r.stdout).toMatch(new RegExp(`^  ${cmd} .*\\S`, 'm'));
    expect((await hostop(['--version'])).stdout).toMatch(/^hostop \d+\.\d+\.\d+\n$/);
  });

  it('a bad or missing option value is a usage error naming the flag, with the usage, exit 1', async () => {
    const bad = await hostop(['run', '--resync', 'soon']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^hostop run: --resync: "soon" is not a duration/);
    expect(bad.stderr).toContain('Usage: hostop run [DIR] [options]');
    const missing = await hostop(['apply', '--max-parallel']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^hostop apply: .*'--max-parallel <N>' argument missing/);
    expect(missing.stderr).toContain('Usage: hostop apply [DIR | PLANFILE] [options]');
  });

  it('an unknown flag or command is a usage error, exit 1', async () => {
    const flag = await hostop(['plan', '--frobnicate']);
    expect(flag.code).toBe(1);
    expect(flag.stderr).toContain("Unknown option '--frobnicate'");
    const cmd = await hostop(['deploy']);
    expect(cmd.code).toBe(1);
    expect(cmd.stderr).toContain('unknown command "deploy"');
  });
});
