import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { HostRef } from '../../../src/core/model.js';
import { parseDocuments } from '../../../src/core/parse-documents.js';
import { loadDesiredState } from '../../../src/source/load.js';
import { hostDocs } from '../../support/fleet.js';

// Empty and comment-only documents are skipped, as kubectl, Helm, Kustomize and Flux skip them. The other way
// round is golden under test/broken/: a file with nothing else is refused as empty (26), and a problem after
// skipped documents names its own line (27).
describe('parseDocuments skips documents without content', () => {
  const cases: { name: string; text: string; lines: number[]; problems: string[] }[] = [
    { name: 'a trailing separator', text: 'a: 1\n---\n', lines: [1], problems: [] },
    { name: 'a leading separator', text: '---\na: 1\n', lines: [2], problems: [] },
    {
      name: 'separators only between documents',
      text: 'a: 1\n---\n---\n---\nb: 2\n',
      lines: [1, 5],
      problems: [],
    },
    {
      name: 'a comment-only document between documents',
      text: 'a: 1\n---\n# b: 2\n# c: 3\n---\nd: 4\n---\n',
      lines: [1, 6],
      problems: [],
    },
    {
      name: 'an explicit null document (kept: it is refused as not a mapping)',
      text: 'a: 1\n---\nnull\n',
      lines: [1, 3],
      problems: [],
    },
    {
      name: 'a file of separators and comments',
      text: '# x\n---\n# y\n---\n',
      lines: [],
      problems: ['1: file holds no YAML document (empty file)'],
    },
    { name: 'an empty file', text: '', lines: [], problems: ['1: file holds no YAML document (empty file)'] },
  ];
  it.each(cases)('$name', ({ text, lines, problems }) => {
    const parsed = parseDocuments('f.yaml', text);
    expect(parsed.docs.map((d) => d.line)).toEqual(lines);
    expect(parsed.problems.map((p) => `${p.line}: ${p.message}`)).toEqual(problems);
  });
});

describe('a desired state with empty and comment-only documents', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hostop-empty-docs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads every real document, each at its own line', () => {
    const host: HostRef = {
      name: 'web-01',
      labels: { role: 'web' },
      address: '192.0.2.10',
      port: 22,
      user: 'root',
      privilege: 'root',
      hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHwcA8Q9gm3Cz6Bq2QFtVmPXr7P2O7mXzK9yq9k8m7Z1',
    };
    writeFileSync(join(dir, 'hosts.yaml'), `${hostDocs([host])}---\n`);
    const files = [
      '---', // 1
      'apiVersion: hostop.dev/v1alpha1', // 2: motd
      'kind: File',
      'metadata: { name: motd }',
      'spec: { hosts: [web-01], path: /etc/motd, content: "hi" }',
      '---', // 6
      '# A commented-out resource:', // 7
      '# apiVersion: hostop.dev/v1alpha1',
      '# kind: File',
      '---', // 10
      '---', // 11
      'apiVersion: hostop.dev/v1alpha1', // 12: banner
      'kind: File',
      'metadata: { name: banner }',
      'spec:',
      '  hosts: [web-01]',
      '  path: /etc/banner',
      '  content: hello',
      '---', // 19
      '',
    ];
    writeFileSync(join(dir, 'files.yaml'), files.join('\n'));

    const result = loadDesiredState(dir);
    expect(result.problems).toEqual([]);
    const loaded = result.snapshot!.resources.map((r) => [
      r.kind,
      r.metadata.name,
      r.source.file,
      r.source.line,
    ]);
    expect(loaded).toEqual([
      ['File', 'motd', join(dir, 'files.yaml'), 2],
      ['File', 'banner', join(dir, 'files.yaml'), 12],
      ['Host', 'web-01', join(dir, 'hosts.yaml'), 1],
    ]);
  });
});
