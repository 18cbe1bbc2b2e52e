import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildSnapshot } from '../../../src/core/build-snapshot.js';
import { diffHost } from '../../../src/core/diff.js';
import { renderSnapshot } from '../../../src/core/render.js';
import { kindByName } from '../../../src/kinds/registry.js';
import { kindSchemas } from '../../../src/source/crds.js';
import { hostDoc } from '../../support/documents.js';
import { fileIntent, hostIntent, observedFiles } from '../../support/intents.js';

// Plans show unified diffs; a diff has two sides. The desired secrets are declared, the ones they replace on the
// host are not: neither may show.

const hostDocs = () => stringify(hostDoc('mon'));

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

describe('secrets that are multi-line, rotated or removed (issue: TLS keys in secureJsonData)', () => {
  const pem = (body: string) =>
    `-----BEGIN PRIVATE KEY-----\n${body}\n${body.split('').reverse().join('')}\n-----END PRIVATE KEY-----\n`;
  const NEW = pem('MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7newnewnew');
  const OLD = pem('MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDoldoldold1');
  const render = (key: string | undefined, header: string | undefined) => {
    const ds = {
      name: 'Prometheus',
      uid: 'prom',
      type: 'prometheus',
      url: 'http://127.0.0.1:9090',
      secureJsonData: {
        ...(key !== undefined && { tlsClientKey: key }),
        ...(header !== undefined && { httpHeaderValue1: header }),
      },
    };
    const { snapshot, problems } = buildSnapshot(
      [
        { file: 'h.yaml', text: hostDocs() },
        {
          file: 'ds.yaml',
          text: stringify({
            apiVersion: 'hostop.dev/v1alpha1',
            kind: 'GrafanaDatasource',
            metadata: { name: 'prom' },
            spec: { hosts: ['mon'], datasources: [ds] },
          }),
        },
      ],
      kindSchemas(),
      kindByName,
    );
    expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
    return renderSnapshot(snapshot!, kindByName).find((i) => i.host.name === 'mon')!.files[0]!;
  };
  const diffOf = (next: ReturnType<typeof render>, before?: string) =>
    planDiff(next.content, next.secrets, before);
  const lines = (pemText: string) => pemText.split('\n').filter((l) => l.length > 0);

  it('a new multi-line key (a YAML block scalar) shows none of its lines', () => {
    const d = diffOf(render(NEW, undefined));
    for (const l of lines(NEW)) if (l.length >= 8) expect(d).not.toContain(l);
  });

  it('a rotated key shows the lines of neither version', () => {
    const d = diffOf(render(NEW, undefined), render(OLD, undefined).content);
    for (const l of [...lines(NEW), ...lines(OLD)].filter((l) => !l.startsWith('-----')))
      expect(d).not.toContain(l);
  });

  it('a removed secret (no longer declared, so not known) is still masked in the - lines', () => {
    const d = diffOf(render(undefined, undefined), render(OLD, 'X-Scope-OrgID hunter2-tenant').content);
    expect(d).not.toContain('hunter2-tenant');
    for (const l of lines(OLD).filter((l) => !l.startsWith('-----'))) expect(d).not.toContain(l);
  });
});
