import { describe, expect, it } from 'vitest';
import { diffHost } from '../../../src/core/diff.js';
import type { ObservedHost } from '../../../src/core/model.js';
import {
  SAVED_PLAN_FORMAT,
  changedSources,
  parseSavedPlan,
  savedHost,
  sourceDigests,
  staleness,
} from '../../../src/engine/saved-plan.js';
import { fileIntent, hostIntent } from '../../support/intents.js';

// The pure rules of a saved plan: what it records of a host, and when it no longer holds. The CLI and the real
// hosts are exercised by test/lab/saved-plan.test.ts.

const CONF = '/etc/app/app.conf';
const intent = (content: string) => hostIntent([fileIntent({ path: CONF, content })]);

function observed(files: ObservedHost['files'], units: ObservedHost['units'] = {}): ObservedHost {
  return { host: 'h1', facts: { hostname: 'h1', os: 'debian', systemd: true }, files, units };
}

const missing: ObservedHost = observed({ [CONF]: { path: CONF, type: 'missing' } });
const present = (sha: string, mode = '0644'): ObservedHost =>
  observed({ [CONF]: { path: CONF, type: 'file', sha256: sha, mode, owner: 'root', group: 'root' } });

const record = (content: string, seen: ObservedHost) =>
  savedHost(intent(content), seen, diffHost(intent(content), seen));

describe('a saved plan', () => {
  it('records digests and one line per change, never the content', () => {
    const s = record('password=hunter2\n', missing);
    expect(s.changes).toEqual([`create ${CONF}`]);
    expect(s.observed).toEqual({ [`file:${CONF}`]: 'missing' });
    expect(s.intent).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(s)).not.toContain('hunter2');
  });

  it('holds when nothing moved', () => {
    expect(staleness(record('a\n', missing), record('a\n', missing))).toBeUndefined();
  });

  it('names the path that changed on the host, with what it is now', () => {
    const why = staleness(record('a\n', present('1'.repeat(64))), record('a\n', present('2'.repeat(64))));
    expect(why).toBe(`changed since the plan was made: file ${CONF}`);
    expect(
      staleness(record('a\n', present('1'.repeat(64))), record('a\n', present('1'.repeat(64), '0600'))),
    ).toBe(`changed since the plan was made: file ${CONF}`);
  });

  it('names a unit whose state changed, and counts what is beyond five', () => {
    const units = (active: string): ObservedHost['units'] => ({
      'app.service': { unit: 'app.service', active, enabled: 'enabled', load: 'loaded' },
    });
    const a = savedHost(intent('a\n'), observed({}, units('active')), diffHost(intent('a\n'), missing));
    const b = savedHost(intent('a\n'), observed({}, units('failed')), diffHost(intent('a\n'), missing));
    expect(staleness(a, b)).toBe('changed since the plan was made: unit app.service');
    const many = (sha: string) =>
      observed(
        Object.fromEntries(
          [1, 2, 3, 4, 5, 6, 7].map((i) => [
            `/etc/f${i}`,
            {
              path: `/etc/f${i}`,
              type: 'file' as const,
              sha256: sha,
              mode: '0644',
              owner: 'root',
              group: 'root',
            },
          ]),
        ),
      );
    const x = savedHost(intent('a\n'), many('1'), diffHost(intent('a\n'), missing));
    const y = savedHost(intent('a\n'), many('2'), diffHost(intent('a\n'), missing));
    expect(staleness(x, y)).toBe(
      'changed since the plan was made: file /etc/f1, file /etc/f2, file /etc/f3, file /etc/f4, file /etc/f5 and 2 more',
    );
  });

  it("ignores a unit's invocation link (it changes on every restart)", () => {
    const link = '/run/systemd/units/invocation:app.service';
    const at = (target: string) =>
      savedHost(
        intent('a\n'),
        observed({ ...missing.files, [link]: { path: link, type: 'symlink', sha256: target } }),
        diffHost(intent('a\n'), missing),
      );
    expect(staleness(at('1'), at('2'))).toBeUndefined();
  });

  it('refuses when the rendered intent changed', () => {
    expect(staleness(record('a\n', missing), record('b\n', missing))).toBe(
      'its rendered desired state changed since the plan was made',
    );
  });

  it('names desired-state files changed, added and removed', () => {
    const before = sourceDigests([
      { file: '/ds/a.yaml', text: 'a' },
      { file: '/ds/b.yaml', text: 'b' },
      { file: '/ds/big.yaml', refused: 'too big' },
    ]);
    const after = sourceDigests([
      { file: '/ds/a.yaml', text: 'a2' },
      { file: '/ds/big.yaml', refused: 'too big' },
      { file: '/ds/c.yaml', text: 'c' },
    ]);
    expect(changedSources(before, before)).toEqual([]);
    expect(changedSources(before, after)).toEqual([
      '/ds/a.yaml (changed)',
      '/ds/b.yaml (removed)',
      '/ds/c.yaml (added)',
    ]);
  });

  it('reading: a file that is no saved plan is named with what is wrong', () => {
    expect(() => parseSavedPlan('{', 'p.json')).toThrow(/^p\.json: not a saved plan \(/);
    expect(() => parseSavedPlan('{"format":"x"}', 'p.json')).toThrow(
      `p.json: not a saved plan of this hostop (format "x", expected ${SAVED_PLAN_FORMAT})`,
    );
    expect(() => parseSavedPlan(JSON.stringify({ format: SAVED_PLAN_FORMAT, dir: '/ds' }), 'p.json')).toThrow(
      'p.json: saved plan is malformed',
    );
    const ok = {
      format: SAVED_PLAN_FORMAT,
      createdAt: 'now',
      dir: '/ds',
      selection: {},
      prune: true,
      sources: { '/ds/a.yaml': 'x' },
      hosts: [record('a\n', missing)],
    };
    expect(parseSavedPlan(JSON.stringify(ok), 'p.json')).toEqual(ok);
  });
});
