import { describe, expect, it } from 'vitest';
import { diffHost } from '../../../src/core/diff.js';
import { fileIntent, hostIntent, observedFiles } from '../../support/intents.js';

// Plans show unified diffs; a diff has two sides. The desired secrets are declared, the ones they replace on the
// host are not: neither may show.

function planDiff(content: string, secrets: string[], current: string | undefined): string {
  const f = fileIntent({ content, secrets });
  const intent = hostIntent([f]);
  const observed = observedFiles(current === undefined ? {} : { [f.path]: current });
  const plan = diffHost(intent, observed, {
    contents: current === undefined ? {} : { [f.path]: current },
    wantDiffs: true,
  });
  return plan.files[0]!.diff!;
}

describe('secrets in plan diffs', () => {
  it('a rotated value under a key that does not look secret: the old one is masked too', () => {
    const d = planDiff(
      'url: x\nhttpHeaderValue1: new-secret\n',
      ['new-secret'],
      'url: x\nhttpHeaderValue1: old-secret\n',
    );
    expect(d).not.toContain('old-secret');
    expect(d).not.toContain('new-secret');
    expect(d).toContain('-httpHeaderValue1: ***');
    expect(d).toContain('+httpHeaderValue1: ***');
  });

  it('a rotated OTLP header in a systemd drop-in', () => {
    const line = (v: string) => `Environment="OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer ${v}"\n`;
    const d = planDiff(`[Service]\n${line('tok-new')}`, ['Bearer tok-new'], `[Service]\n${line('tok-old')}`);
    expect(d).not.toContain('tok-old');
    expect(d).not.toContain('tok-new');
  });

  it('a multi-line file that is secret as a whole shows neither version, on create or update', () => {
    const next = 'line one of the new key\nline two\n';
    const prev = 'line one of the old key\nline two of it\n';
    for (const d of [planDiff(next, [next], undefined), planDiff(next, [next], prev)]) {
      expect(d).toContain('secret content, not shown');
      expect(d).not.toMatch(/line one|line two/);
    }
  });

  it('non-secret lines keep their diff', () => {
    const d = planDiff('a: 2\npassword: new\n', ['new'], 'a: 1\npassword: old\n');
    expect(d).toContain('-a: 1');
    expect(d).toContain('+a: 2');
    expect(d).not.toMatch(/old|new/);
  });
});
