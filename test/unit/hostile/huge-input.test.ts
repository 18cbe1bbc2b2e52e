import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffHost } from '../../../src/core/diff.js';
import { loadDesiredState } from '../../../src/source/load.js';
import { fileIntent, hostIntent, observedFiles } from '../../support/intents.js';
import { tempDir } from '../../support/temp.js';

// Hostile sizes and shapes: each is refused with a problem or handled in bounded time, never a hang or a crash.

const HOSTS = `apiVersion: hostop.dev/v1alpha1
kind: Host
metadata: { name: h1 }
spec:
  address: 10.0.0.1
  hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
  identityFile: /dev/null
`;

function load(resources: string) {
  const dir = tempDir('hostop-hostile-');
  writeFileSync(join(dir, 'hosts.yaml'), HOSTS);
  writeFileSync(join(dir, 'resources.yaml'), resources);
  const started = Date.now();
  const result = loadDesiredState(dir);
  return { ...result, ms: Date.now() - started };
}

const text = (bytes: number) =>
  `${randomBytes(Math.ceil((bytes * 3) / 4))
    .toString('base64')
    .replace(/.{100}/g, '$&\n')}\n`;

describe('huge and deeply nested input', () => {
  it('a diff of two unrelated large files is bounded and summarised, not computed for minutes', () => {
    const file = fileIntent({
      path: '/etc/big.txt',
      content: text(700_000),
      resource: { kind: 'File', name: 'big' },
    });
    const current = text(700_000);
    const intent = hostIntent([file]);
    const observed = observedFiles({ [file.path]: current });
    const started = Date.now();
    const update = diffHost(intent, observed, { contents: { [file.path]: current }, wantDiffs: true });
    const create = diffHost(intent, { ...observed, files: {} }, { wantDiffs: true });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(update.files[0]!.action).toBe('update');
    expect(update.files[0]!.diff).toMatch(/changed lines, not shown: 7001 lines, 707001 bytes before/);
    expect(create.files[0]!.diff).toMatch(/not shown: 0 lines, 0 bytes before, 7001 lines/);
    // A small change in a large file still gets its real diff.
    const edited = file.content.replace(/^.{10}/, 'EDITED-BY-');
    const small = diffHost(intent, observed, { contents: { [file.path]: edited }, wantDiffs: true });
    expect(small.files[0]!.diff).toContain('+++ /etc/big.txt');
    expect(small.files[0]!.diff).toMatch(/^-EDITED-BY-/m);
  });

  it('an exponential alias bomb inside a resource spec is refused', () => {
    // 10 levels of 3 aliases: 30 alias nodes, 3^10 = 59049 expanded nodes.
    const levels = ['  a0: &a0 ["lol", "lol", "lol"]'];
    for (let i = 1; i <= 10; i++) levels.push(`  a${i}: &a${i} [*a${i - 1}, *a${i - 1}, *a${i - 1}]`);
    const r = load(`apiVersion: hostop.dev/v1alpha1
kind: File
metadata:
  name: bomb
  annotations:
${levels.map((l) => `  ${l}`).join('\n')}
spec: { hosts: [h1], path: /etc/bomb, content: x }
`);
    expect(r.snapshot).toBeUndefined();
    expect(r.problems.map((p) => p.message).join('\n')).toMatch(/alias/);
    expect(r.ms).toBeLessThan(5000);
  });

  it('deep nesting is a problem with a file and line, not a crash', () => {
    const depth = 20_000;
    const r = load(`apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: deep }
spec: { hosts: [h1], path: /etc/deep, content: x, extra: ${'['.repeat(depth)}${']'.repeat(depth)} }
`);
    expect(r.snapshot).toBeUndefined();
    expect(r.problems.length).toBeGreaterThan(0);
    expect(r.problems[0]!.file).toMatch(/resources\.yaml$/);
    expect(r.ms).toBeLessThan(10_000);
  });

  it('deep nesting inside free-form fields (a dashboard) is refused or accepted, never a crash', () => {
    const depth = 5000;
    const nested = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    const r = load(`apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: deep-json }
spec: { hosts: [h1], path: /etc/deep.json, content: ${JSON.stringify(nested)} }
`);
    expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(r.snapshot).toBeDefined();
  });

  it('thousands of documents in one file load in bounded time', () => {
    const docs = Array.from(
      { length: 3000 },
      (_, i) => `apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: f${i} }
spec: { hosts: [h1], path: /etc/many/f${i}, content: "${i}" }
`,
    ).join('---\n');
    const r = load(docs);
    expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(r.snapshot?.resources.length).toBe(3001);
    expect(r.ms).toBeLessThan(20_000);
  });
});
