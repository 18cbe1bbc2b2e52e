import { describe, expect, it } from 'vitest';
import { DesiredStateError } from '../../src/core/errors.js';
import { explain } from '../../src/core/explain.js';
import { kindSchemas } from '../../src/source/crds.js';
import { hostop } from '../support/fleet.js';

// `hostop explain` from the real CRDs in crds/: the pure function, then the built CLI as a user runs it.

describe('explain', () => {
  const kinds = kindSchemas();

  it('describes a field: its type, description, default and pattern', () => {
    expect(explain(kinds, 'File.spec.mode')).toBe(
      [
        'KIND:     File',
        'VERSION:  hostop.dev/v1alpha1',
        '',
        'FIELD:    mode <string>',
        '',
        'DESCRIPTION:',
        '    Permission bits as four octal digits.',
        '',
        'DEFAULT:  "0644"',
        'PATTERN:  ^[0-7]{4}$',
        '',
      ].join('\n'),
    );
  });

  it('describes a kind with its fields, required ones marked; kind names match in any case and as plurals', () => {
    const text = explain(kinds, 'file.spec');
    expect(text).toContain('   path\t<string> -required-\n');
    expect(text).toContain('   mode\t<string>\n');
    expect(text).toContain('REQUIRED: path, content');
    expect(explain(kinds, 'files.spec')).toBe(text);
  });

  it('prints the whole tree with --recursive, through lists and maps', () => {
    const text = explain(kinds, 'OtelCollector', true);
    expect(text).toContain('   spec\t<Object> -required-\n');
    expect(text).toContain('      hostSelector\t<Object>\n         matchLabels\t<map[string]string>\n');
    expect(text).toContain('            key\t<string> -required-\n');
    // A list's fields are walked into as well: a path may go through it.
    expect(explain(kinds, 'OtelCollector.spec.hostSelector.matchExpressions.operator')).toContain('ALLOWED:');
  });

  it('names an unknown kind or field and what exists there', () => {
    expect(() => explain(kinds, 'Nginx')).toThrow(DesiredStateError);
    expect(() => explain(kinds, 'Nginx')).toThrow(/unknown kind "Nginx"; hostop has: .*File.*OtelCollector/);
    expect(() => explain(kinds, 'File.spec.nope')).toThrow(
      /File\.spec has no field "nope"; its fields: hostSelector, hosts, .*path, content, mode/,
    );
    expect(() => explain(kinds, 'File.spec.mode.bits')).toThrow(
      /File\.spec\.mode has no field "bits" \(it is string\)/,
    );
  });

  it(
    'the CLI exits 0 with the description, and 1 with the error on stderr for an unknown path',
    { timeout: 120_000 },
    async () => {
      const ok = await hostop(['explain', 'File.spec.mode']);
      expect(ok).toMatchObject({ code: 0, stderr: '' });
      expect(ok.stdout).toContain('FIELD:    mode <string>');
      const bad = await hostop(['explain', 'File.spec.nope']);
      expect(bad).toMatchObject({ code: 1, stdout: '' });
      expect(bad.stderr).toMatch(/^hostop explain: File\.spec has no field "nope"/);
      expect((await hostop(['explain', 'OtelCollector', '--recursive'])).stdout).toContain(
        '         grpcPort\t<integer>',
      );
    },
  );
});
