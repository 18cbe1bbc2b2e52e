import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildSnapshot } from '../../../src/core/build-snapshot.js';
import { diffHost, planIsEmpty } from '../../../src/core/diff.js';
import type { FileIntent, HostIntent, ManagedFile, ObservedHost } from '../../../src/core/model.js';
import { kindByName } from '../../../src/kinds/registry.js';
import { kindSchemas } from '../../../src/source/crds.js';
import { hostDoc } from '../../support/documents.js';
import { observedFiles } from '../../support/intents.js';

// Two promises of the CRDs that the plan must keep (test/cases/plan/file-suspended, file-notify-without-service):
//   spec.suspend  "hostop neither renders nor converges it while true (its files stay as they are on the hosts)"
//   File notify   "how, is decided by the Service or kind that manages the unit; restart when none does"

const doc = (kind: string, name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'hostop.dev/v1alpha1',
  kind,
  metadata: { name },
  spec,
});
const file = (name: string, spec: Record<string, unknown>) =>
  doc('File', name, { hosts: ['web-01'], content: `${name}\n`, ...spec });

/** The intents of web-01 and web-02 (both role=web) and these resources, as `hostop plan` renders them. */
function render(...resources: object[]): HostIntent[] {
  const docs = [hostDoc('web-01', {}, { role: 'web' }), hostDoc('web-02', {}, { role: 'web' }), ...resources];
  const built = buildSnapshot(
    [{ file: 'r.yaml', text: docs.map((d) => stringify(d)).join('---\n') }],
    kindSchemas(),
    kindByName,
  );
  expect(built.problems.filter((p) => p.severity === 'error')).toEqual([]);
  return built.intents!;
}

const web01 = (intents: HostIntent[]) => intents.find((i) => i.host.name === 'web-01')!;

/** What the probe reports for `intent`: each file as `contents` has it, each unit as `units` has it (else not-found). */
function observed(
  intent: HostIntent,
  contents: Record<string, string>,
  units: Record<string, string> = {},
): ObservedHost {
  const o = observedFiles(contents);
  for (const f of intent.files) o.files[f.path] ??= { path: f.path, type: 'missing' };
  for (const s of intent.services) {
    const active = units[s.unit];
    o.units[s.unit] = active
      ? { unit: s.unit, active, enabled: 'enabled', load: 'loaded' }
      : { unit: s.unit, active: 'inactive', enabled: '', load: 'not-found' };
  }
  return o;
}

const managed = (kind: string, name: string, original = false): ManagedFile => ({ kind, name, original });

describe('a suspended resource: its files stay as they are', () => {
  it('renders nothing, and every host intent names it (also a host it does not select)', () => {
    const intents = render(
      file('motd', { path: '/etc/motd', suspend: true }),
      file('issue', { path: '/etc/issue' }),
      doc('Service', 'nginx', { hosts: ['web-01'], unit: 'nginx', suspend: true }),
    );
    for (const i of intents) {
      expect(i.suspended, i.host.name).toEqual([
        { kind: 'File', name: 'motd' },
        { kind: 'Service', name: 'nginx' },
      ]);
    }
    expect(web01(intents).files.map((f) => f.path)).toEqual(['/etc/issue']);
    expect(web01(intents).services).toEqual([]);
  });

  it('intents carry no list of suspended resources when none is', () => {
    for (const i of render(file('issue', { path: '/etc/issue' }))) expect(i).not.toHaveProperty('suspended');
  });

  it('is neither pruned nor restored, while a resource that left the desired state is', () => {
    const intent = web01(
      render(file('motd', { path: '/etc/motd', suspend: true }), file('issue', { path: '/etc/issue' })),
    );
    const plan = diffHost(
      intent,
      observed(intent, { '/etc/motd': 'edited by hand\n', '/etc/issue': 'issue\n', '/etc/old': 'old\n' }),
      {
        managed: {
          '/etc/motd': managed('File', 'motd'),
          '/etc/motd.d/banner': managed('File', 'motd', true),
          '/etc/issue': managed('File', 'issue'),
          '/etc/old': managed('File', 'old', true),
        },
      },
    );
    expect(plan.files.map((f) => [f.path, f.action, f.resource.name])).toEqual([
      ['/etc/issue', 'unchanged', 'issue'],
      ['/etc/old', 'delete', 'old'],
    ]);
  });

  it('a host whose only managed files belong to suspended resources is in sync', () => {
    const intent = web01(render(file('motd', { path: '/etc/motd', suspend: true })));
    const plan = diffHost(intent, observed(intent, {}), {
      managed: { '/etc/motd': managed('File', 'motd') },
    });
    expect(plan.files).toEqual([]);
    expect(planIsEmpty(plan)).toBe(true);
  });

  it('resumed, it is converged again; removed, it is pruned', () => {
    const inventory = { managed: { '/etc/motd': managed('File', 'motd') } };
    const resumed = web01(render(file('motd', { path: '/etc/motd' })));
    expect(
      diffHost(resumed, observed(resumed, { '/etc/motd': 'edited\n' }), inventory).files.map((f) => f.action),
    ).toEqual(['update']);
    const removed = web01(render(file('issue', { path: '/etc/issue' })));
    expect(
      diffHost(removed, observed(removed, { '/etc/issue': 'issue\n' }), inventory).files.map((f) => [
        f.path,
        f.action,
      ]),
    ).toEqual([
      ['/etc/issue', 'unchanged'],
      ['/etc/motd', 'delete'],
    ]);
  });

  it('a path a suspended resource had is written by the active resource that claims it now', () => {
    const intent = web01(
      render(file('motd', { path: '/etc/motd', suspend: true }), file('motd-v2', { path: '/etc/motd' })),
    );
    const plan = diffHost(intent, observed(intent, { '/etc/motd': 'old\n' }), {
      managed: { '/etc/motd': managed('File', 'motd') },
    });
    expect(plan.files.map((f) => [f.path, f.action, f.resource.name])).toEqual([
      ['/etc/motd', 'update', 'motd-v2'],
    ]);
  });
});

describe('a notified unit that no resource manages is restarted', () => {
  const site = (over: Record<string, unknown> = {}) =>
    file('site', { path: '/etc/nginx/conf.d/site.conf', notify: ['nginx'], ...over });

  it('gets a service intent of its own: restart on change, no run state or enablement, owned by the file', () => {
    const intent = web01(
      render(site(), file('extra', { path: '/etc/nginx/conf.d/a.conf', notify: ['nginx'] })),
    );
    // Once, owned by the first file (by path) that notifies it.
    expect(intent.services).toEqual([
      { unit: 'nginx.service', onChange: 'restart', resource: { kind: 'File', name: 'extra' } },
    ]);
  });

  it('a unit a Service manages keeps the Service (its onChange, its run state), wherever the Service is', () => {
    const service = doc('Service', 'nginx', {
      hosts: ['web-01'],
      unit: 'nginx.service',
      state: 'running',
      onChange: 'reload',
    });
    for (const resources of [
      [site(), service],
      [service, site()],
    ]) {
      expect(web01(render(...resources)).services).toEqual([
        {
          unit: 'nginx.service',
          state: 'running',
          enabled: true,
          onChange: 'reload',
          resource: { kind: 'Service', name: 'nginx' },
        },
      ]);
    }
  });

  it('a unit a kind manages keeps that kind (the collector reloads, it is not restarted)', () => {
    const intent = web01(
      render(
        doc('OtelCollector', 'otel', { hosts: ['web-01'], version: '0.144.0' }),
        file('extra', { path: '/etc/otelcol-contrib/extra.yaml', notify: ['otelcol-contrib'] }),
      ),
    );
    const units = intent.services.filter((s) => s.unit === 'otelcol-contrib.service');
    expect(units).toHaveLength(1);
    expect(units[0]!.resource).toEqual({ kind: 'OtelCollector', name: 'otel' });
  });

  const rendered = web01(render(site()));
  const f = rendered.files[0]!;
  const edited = { [f.path]: f.content.replace('site', 'edited') };
  const plan = (contents: Record<string, string>, active?: string, fileOver: Partial<FileIntent> = {}) => {
    const intent = { ...rendered, files: [{ ...f, ...fileOver }] };
    const o = observed(intent, contents, active ? { 'nginx.service': active } : {});
    return diffHost(intent, o, { contents });
  };

  it('restarts it once when the file changes while it runs', () => {
    const p = plan(edited, 'active');
    expect(p.files.map((x) => x.action)).toEqual(['update']);
    expect(p.services).toEqual([
      {
        unit: 'nginx.service',
        actions: ['restart'],
        reasons: [`notified by ${f.path}`],
        resource: { kind: 'File', name: 'site' },
        intent: rendered.services[0],
      },
    ]);
    expect(plan({}, 'active').services.map((s) => s.actions)).toEqual([['restart']]);
  });

  it('a unit that is not installed, or stopped, is left alone: the file is written and the host converges', () => {
    for (const active of [undefined, 'inactive', 'failed']) {
      const p = plan(edited, active);
      expect(
        p.files.map((x) => x.action),
        String(active),
      ).toEqual(['update']);
      expect(p.services, String(active)).toEqual([]);
      // The next pass, the file written: nothing left to do (no action pending for ever on a missing unit).
      expect(planIsEmpty(plan({ [f.path]: f.content }, active)), String(active)).toBe(true);
    }
  });

  it('no restart for a file in sync, or a mode or owner fix alone', () => {
    expect(plan({ [f.path]: f.content }, 'active').services).toEqual([]);
    const p = plan({ [f.path]: f.content }, 'active', { mode: '0600' });
    expect(p.files.map((x) => [x.action, x.changed])).toEqual([['update', ['mode']]]);
    expect(p.services).toEqual([]);
  });
});
