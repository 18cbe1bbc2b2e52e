import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RenderedFile } from '../../src/cli/render-command.js';
import { diffHost } from '../../src/core/diff.js';
import { renderSnapshot } from '../../src/core/render.js';
import { kindByName } from '../../src/kinds/registry.js';
import { loadDesiredState } from '../../src/source/load.js';
import { HOSTOP_BIN, hostDocs, hostop } from '../support/fleet.js';
import { observedFiles } from '../support/intents.js';

// `hostop render` as a user runs it (the built CLI; test/support/build-once.ts builds it when stale). Rendered
// bodies change with the kinds: these tests assert structure, paths, selection and masking, and compare with what
// validate and plan say, never whole bodies.

async function renderJson(args: string[]): Promise<RenderedFile[]> {
  const r = await hostop(['render', ...args, '-o', 'json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as RenderedFile[];
}

const OTELCOL = '/etc/otelcol-contrib/config.yaml';
// A LiteLLM drop-in whose OTLP header holds `Bearer proxy-token`; a File that is secret as a whole.
const HEADER_SECRET = 'test/cases/011-app-instrumentation-litellm/input';
const FILE_SECRET = 'test/cases/001-file/input';

// Each test runs the CLI several times: generous on a loaded machine.
describe('hostop render', { timeout: 120_000 }, () => {
  it('prints every file of the reference fleet per host, as JSON with every field', async () => {
    const files = await renderJson(['desired-state']);
    for (const f of files) {
      for (const key of ['host', 'kind', 'name', 'path', 'mode', 'owner', 'group', 'content'] as const)
        expect(typeof f[key], `${f.host} ${f.path} ${key}`).toBe('string');
      expect(f.path).toMatch(/^\//);
      expect(f.mode).toMatch(/^0[0-7]{3}$/);
    }
    const collector = files.find((f) => f.host === 'monitoring-01' && f.path === OTELCOL);
    expect(collector).toMatchObject({ kind: 'OtelCollector', owner: expect.any(String) });
    expect(collector!.content).toMatch(/receivers:/);

    // The same hosts and file counts as validate's summary.
    const v = await hostop(['validate', 'desired-state', '-o', 'json']);
    const summary = JSON.parse(v.stdout) as { summary: { hosts: { name: string; files: number }[] } };
    const counts: Record<string, number> = {};
    for (const f of files) counts[f.host] = (counts[f.host] ?? 0) + 1;
    expect(counts).toEqual(
      Object.fromEntries(summary.summary.hosts.filter((h) => h.files > 0).map((h) => [h.name, h.files])),
    );
  });

  it('as text: a line per host, a header per file, then the content as written', async () => {
    const [r, files] = await Promise.all([
      hostop(['render', 'desired-state']),
      renderJson(['desired-state']),
    ]);
    expect(r.code).toBe(0);
    const hostLines = r.stdout.split('\n').filter((l) => l.startsWith('host '));
    expect(hostLines).toHaveLength(16);
    expect(r.stdout).toMatch(/^host monitoring-01: \d+ files$/m);
    const collector = files.find((f) => f.host === 'monitoring-01' && f.path === OTELCOL)!;
    const header = `==> ${OTELCOL} <==  ${collector.mode} ${collector.owner}:${collector.group}  OtelCollector/${collector.name}`;
    expect(r.stdout).toContain(`${header}\n${collector.content}`);
    const headers = r.stdout.split('\n').filter((l) => l.startsWith('==> '));
    expect(headers).toHaveLength(files.length);
  });

  it('--hosts and --selector narrow the hosts; an unknown host is an error naming it', async () => {
    const two = await renderJson(['desired-state', '--hosts', 'monitoring-01,agent-01']);
    expect(new Set(two.map((f) => f.host))).toEqual(new Set(['monitoring-01', 'agent-01']));
    expect(two.some((f) => f.path === OTELCOL)).toBe(true);

    const agents = await renderJson(['desired-state', '-l', 'role=agent']);
    const labelled = loadDesiredState('desired-state').snapshot!.hosts.filter(
      (h) => h.labels.role === 'agent',
    );
    expect(labelled.length).toBeGreaterThan(1);
    expect(new Set(agents.map((f) => f.host))).toEqual(new Set(labelled.map((h) => h.name)));

    const unknown = await hostop(['render', 'desired-state', '--hosts', 'monitoring-01,web-99']);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toContain('hostop render: --hosts: unknown host(s) web-99');
  });

  it('--inventory replaces the Host addresses that files render', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hostop-render-inv-'));
    try {
      const inventory = join(dir, 'hosts.yaml');
      const monitoring = {
        name: 'monitoring-01',
        labels: { role: 'monitoring' },
        address: '10.77.0.99',
        port: 22,
        user: 'root',
        hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ07IYsKSaR5bnlSU1XfXVeA2+6jdzmemh4PFDuo1wLH',
        privilege: 'root' as const,
      };
      writeFileSync(inventory, hostDocs([monitoring]));
      const before = await renderJson(['desired-state', '--hosts', 'agent-01']);
      const after = await renderJson(['desired-state', '--hosts', 'agent-01', '--inventory', inventory]);
      expect(before.map((f) => f.content).join('')).not.toContain('10.77.0.99');
      expect(after.map((f) => f.content).join('')).toContain('10.77.0.99');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('masks secret values exactly as plan does, and shows them only with --show-secrets', async () => {
    const masked = await renderJson([HEADER_SECRET]);
    const shown = await renderJson([HEADER_SECRET, '--show-secrets']);
    const intents = renderSnapshot(loadDesiredState(HEADER_SECRET).snapshot!, kindByName);
    const secretFiles = intents.flatMap((i) =>
      i.files.filter((f) => f.secrets.length > 0).map((f) => ({ i, f })),
    );
    expect(secretFiles.length).toBeGreaterThan(0);
    for (const { i, f } of secretFiles) {
      const m = masked.find((x) => x.host === i.host.name && x.path === f.path)!;
      const s = shown.find((x) => x.host === i.host.name && x.path === f.path)!;
      for (const secret of f.secrets) expect(m.content).not.toContain(secret);
      expect(m.content).toContain('***');
      expect(s.content).toBe(f.content);
      // What plan shows when it would create the file: the added lines of its diff.
      const plan = diffHost({ ...i, files: [f] }, observedFiles({}), { wantDiffs: true });
      const added = plan.files[0]!.diff!.split('\n').filter((l) => l.startsWith('+') && !l.startsWith('+++'));
      expect(m.content).toBe(`${added.map((l) => l.slice(1)).join('\n')}\n`);
    }
    const text = await hostop(['render', HEADER_SECRET]);
    expect(text.stdout).not.toContain('proxy-token');
    expect((await hostop(['render', HEADER_SECRET, '--show-secrets'])).stdout).toContain(
      'Bearer proxy-token',
    );
  });

  it('a file that is secret as a whole is *** as a whole', async () => {
    const masked = await renderJson([FILE_SECRET]);
    const shown = await renderJson([FILE_SECRET, '--show-secrets']);
    const token = (files: RenderedFile[]) => files.find((f) => f.path === '/etc/app/token.json')!;
    expect(token(masked)).toMatchObject({ kind: 'File', name: 'api-token', mode: '0600', content: '***' });
    expect(token(shown).content).toContain('s3cr3t');
    expect((await hostop(['render', FILE_SECRET])).stdout).not.toContain('s3cr3t');
  });

  it.each(['25-many-errors-at-once', '09-unknown-host', '26-only-comments-and-separators'])(
    'a broken desired state (%s): exit 1, every problem as validate prints it, nothing rendered',
    async (name) => {
      const dir = join('test', 'broken', name);
      const r = await hostop(['render', dir]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      const expected = readFileSync(join(dir, 'EXPECTED'), 'utf8');
      expect(r.stderr).toBe(`${expected}${dir}: desired state is invalid; nothing was rendered.\n`);
      const v = await hostop(['validate', dir]);
      expect(v.stderr.startsWith(expected)).toBe(true);
      expect((await hostop(['render', dir, '-o', 'json'])).stderr).toBe(r.stderr);
    },
  );

  it('stops quietly when the reader closes the pipe early (render | head)', async () => {
    // A real pipe (Node's own child stdio is a socket pair, whose buffer holds the whole output), and an output
    // far larger than a pipe buffer, so the CLI is still writing when `head` exits. Values travel as argv.
    const child = spawn(
      'sh',
      ['-c', '"$0" "$1" render desired-state | head -c 1 >/dev/null', process.execPath, HOSTOP_BIN],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
