import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { buildSnapshot } from '../../../src/core/build-snapshot.js';
import { renderSnapshot } from '../../../src/core/render.js';
import { kindByName } from '../../../src/kinds/registry.js';
import { kindSchemas } from '../../../src/source/crds.js';
import { expectProblem, hostDoc } from '../../support/documents.js';

const hosts = ['graf', 'prom'].map((name) => hostDoc(name));
const resource = (kind: string, spec: Record<string, unknown>) => ({
  apiVersion: 'hostop.dev/v1alpha1',
  kind,
  metadata: { name: 'r' },
  spec: { hosts: ['graf'], ...spec },
});
const build = (kind: string, spec: Record<string, unknown>) =>
  buildSnapshot(
    [{ file: 't.yaml', text: [...hosts, resource(kind, spec)].map((d) => stringify(d)).join('---\n') }],
    kindSchemas(),
    kindByName,
  );
const errors = (kind: string, spec: Record<string, unknown>) =>
  build(kind, spec).problems.map((p) => `${p.path}: ${p.message}`);
function files(kind: string, spec: Record<string, unknown>) {
  const { snapshot, problems } = build(kind, spec);
  expect(problems).toEqual([]);
  return renderSnapshot(snapshot!, kindByName).find((i) => i.host.name === 'graf')!.files;
}
const prom = { name: 'Prometheus', type: 'prometheus', uid: 'prom', url: 'http://127.0.0.1:9090' };

describe('GrafanaDatasource', () => {
  it.each([
    ['plain', 'plain'],
    ['$', '$$'],
    ['$$', '$$$$'],
    ['${__value.raw}', '$${__value.raw}'],
    ['a$b$c', 'a$$b$$c'],
  ])('writes %j as %j (Grafana expands $ in provisioning values)', (value, onDisk) => {
    const [file] = files('GrafanaDatasource', {
      datasources: [{ ...prom, jsonData: { note: value }, secureJsonData: { token: value } }],
    });
    const ds = (parse(file!.content) as { datasources: Record<string, Record<string, string>>[] })
      .datasources[0]!;
    expect(ds.jsonData!.note).toBe(onDisk);
    expect(ds.secureJsonData!.token).toBe(onDisk);
    expect(file!.secrets).toContain(onDisk);
  });

  it('collects every secret (secureJsonData and basic auth) and keeps the file to the grafana group', () => {
    const [file] = files('GrafanaDatasource', {
      datasources: [
        { ...prom, basicAuth: { user: 'u', password: '"pw' }, secureJsonData: { httpHeaderValue1: 'to"k' } },
      ],
    });
    // '"pw' cannot stay plain YAML, so it is written double-quoted and escaped; 'to"k' stays plain.
    expect(file!.secrets).toEqual(['"pw', '\\"pw', 'to"k', 'to\\"k']);
    expect(file!.content).toContain('basicAuthPassword: "\\"pw"\n');
    expect(file!.content).toContain('httpHeaderValue1: to"k\n');
    expect(file).toMatchObject({
      mode: '0640',
      owner: 'root',
      group: 'grafana',
      notify: ['grafana-server.service'],
    });
    expect(parse(file!.content).datasources[0]).toMatchObject({ basicAuth: true, basicAuthUser: 'u' });
  });

  it('resolves an endpoint by Host name (loopback on the Grafana host itself) and links Tempo to Prometheus', () => {
    const [file] = files('GrafanaDatasource', {
      datasources: [
        { name: 'P', type: 'prometheus', uid: 'prom', endpoint: { host: 'prom', port: 9090 } },
        {
          name: 'L',
          type: 'prometheus',
          uid: 'local',
          endpoint: { host: 'graf', port: 9091, scheme: 'https', path: '/x' },
        },
        {
          name: 'T',
          type: 'tempo',
          uid: 'tempo',
          url: 'http://t:3200',
          tempo: { metricsDatasourceUid: 'prom', tags: [{ key: 'k' }] },
        },
      ],
    });
    const doc = parse(file!.content) as { apiVersion: number; datasources: Record<string, unknown>[] };
    expect(doc.apiVersion).toBe(1);
    expect(doc.datasources.map((d) => d.url)).toEqual([
      'http://prom.example.internal:9090',
      'https://127.0.0.1:9091/x',
      'http://t:3200',
    ]);
    expect(doc.datasources[2]!.jsonData).toEqual({
      nodeGraph: { enabled: true },
      search: { hide: false },
      serviceMap: { datasourceUid: 'prom' },
      tracesToMetrics: {
        datasourceUid: 'prom',
        queries: expect.any(Array),
        spanEndTimeShift: '1h',
        spanStartTimeShift: '-1h',
        tags: [{ key: 'k' }],
      },
    });
  });

  // Grafana shows a span's metric links only for tracesToMetrics.queries, and fills $__tags from the tag mapping.
  const tempoLinks = (tempo: Record<string, unknown>) => {
    const [file] = files('GrafanaDatasource', {
      datasources: [{ name: 'T', type: 'tempo', uid: 'tempo', url: 'http://t:3200', tempo }],
    });
    const ds = parse(file!.content).datasources[0] as {
      jsonData: { tracesToMetrics: Record<string, unknown> };
    };
    return { content: file!.content, links: ds.jsonData.tracesToMetrics };
  };

  it.each([
    [
      undefined,
      'service_name',
      'traces_span_metrics_calls_total',
      'traces_span_metrics_duration_milliseconds_bucket',
      'ms',
    ],
    [
      'collector',
      'service_name',
      'traces_span_metrics_calls_total',
      'traces_span_metrics_duration_milliseconds_bucket',
      'ms',
    ],
    ['collectorLegacy', 'service_name', 'calls_total', 'duration_milliseconds_bucket', 'ms'],
    ['tempo', 'service', 'traces_spanmetrics_calls_total', 'traces_spanmetrics_latency_bucket', 's'],
  ])('span metrics %s: queries name %s, %s and %s', (spanMetrics, label, calls, buckets, unit) => {
    const { content, links } = tempoLinks({ metricsDatasourceUid: 'prom', spanMetrics });
    expect(links.tags).toEqual([{ key: 'service.name', value: label }]);
    // Read back, a provisioning value has every $ doubled: Grafana turns $$ into the literal $ of $__tags.
    expect(links.queries).toEqual([
      { name: 'Request rate', query: `sum by (span_name) (rate(${calls}{$$__tags}[5m]))` },
      {
        name: 'Error rate',
        query: `sum by (span_name) (rate(${calls}{$$__tags, status_code="STATUS_CODE_ERROR"}[5m]))`,
      },
      {
        name: `p95 latency (${unit})`,
        query: `histogram_quantile(0.95, sum by (le, span_name) (rate(${buckets}{$$__tags}[5m])))`,
      },
    ]);
    expect(content).not.toMatch(/[^$]\$__tags/);
  });

  it('keeps an explicit tag mapping (its key alone when the value is empty)', () => {
    const tags = [{ key: 'service.name', value: 'service' }, { key: 'deployment.environment' }];
    expect(tempoLinks({ metricsDatasourceUid: 'prom', spanMetrics: 'tempo', tags }).links.tags).toEqual(tags);
  });

  it.each([
    [
      { datasources: [{ name: 'P', type: 'prometheus', uid: 'p' }] },
      '/spec/datasources/0: set exactly one of url and endpoint',
    ],
    [
      { datasources: [prom, { ...prom, name: 'Other' }] },
      '/spec/datasources/1/uid: uid "prom" is also used by datasources[0]',
    ],
    [
      { datasources: [prom, { ...prom, uid: 'p2' }] },
      '/spec/datasources/1/name: name "Prometheus" is also used by datasources[0]',
    ],
    [
      {
        datasources: [
          { ...prom, isDefault: true },
          { ...prom, name: 'B', uid: 'b', isDefault: true },
        ],
      },
      '/spec/datasources: at most one data source can be isDefault',
    ],
    [
      { datasources: [{ ...prom, tempo: { metricsDatasourceUid: 'x' } }] },
      '/spec/datasources/0/tempo: only for a data source of type tempo',
    ],
    [
      {
        datasources: [
          { ...prom, type: 'tempo', jsonData: { serviceMap: {} }, tempo: { metricsDatasourceUid: 'x' } },
        ],
      },
      '/spec/datasources/0/jsonData/serviceMap: set by the tempo block; remove it from jsonData',
    ],
    [
      {
        datasources: [
          {
            ...prom,
            type: 'tempo',
            tempo: {
              metricsDatasourceUid: 'x',
              tags: [{ key: 'http.route' }, { key: 'service.name', value: 'service' }],
            },
          },
        ],
      },
      '/spec/datasources/0/tempo/tags/1: collector span metrics carry service.name in label "service_name", not "service"',
    ],
    [
      {
        datasources: [
          {
            ...prom,
            type: 'tempo',
            tempo: { metricsDatasourceUid: 'x', spanMetrics: 'tempo', tags: [{ key: 'service.name' }] },
          },
        ],
      },
      '/spec/datasources/0/tempo/tags/0: tempo span metrics carry service.name in label "service", not "service.name"',
    ],
    [
      {
        datasources: [
          { ...prom, type: 'tempo', tempo: { metricsDatasourceUid: 'x', spanMetrics: 'jaeger' } },
        ],
      },
      '/spec/datasources/0/tempo/spanMetrics: ',
    ],
    [
      {
        datasources: [
          { ...prom, basicAuth: { user: 'u', password: 'p' }, secureJsonData: { basicAuthPassword: 'q' } },
        ],
      },
      '/spec/datasources/0/secureJsonData/basicAuthPassword: set by basicAuth.password; remove one',
    ],
    [
      { datasources: [{ ...prom, endpoint: undefined, url: undefined, endpoint2: 1 }] },
      '/spec/datasources/0/endpoint2: unknown field (not in the schema)',
    ],
  ])('rejects %j', (spec, message) => {
    expectProblem(errors('GrafanaDatasource', spec), message);
  });
});

describe('GrafanaDashboard', () => {
  const dashboard = {
    uid: 'dash-1',
    title: 'T',
    id: 7,
    panels: [{ title: 'p', targets: [{ expr: 'up{job="$job"}' }] }],
  };

  it('writes the JSON (id dropped, keys sorted, $ untouched) and a provider that restarts Grafana', () => {
    const rendered = files('GrafanaDashboard', { folder: 'Ops $team', dashboard });
    const json = rendered.find((f) => f.format === 'json');
    const provider = rendered.find((f) => f.format === 'yaml');
    expect(json!.path).toBe('/etc/grafana/dashboards/hostop/r/dash-1.json');
    expect(JSON.parse(json!.content)).toEqual({ panels: dashboard.panels, title: 'T', uid: 'dash-1' });
    const sorted = {
      panels: [{ targets: [{ expr: 'up{job="$job"}' }], title: 'p' }],
      title: 'T',
      uid: 'dash-1',
    };
    expect(json!.content).toBe(`${JSON.stringify(sorted, null, 2)}\n`);
    expect(json!.notify).toEqual([]);
    expect(provider!.path).toBe('/etc/grafana/provisioning/dashboards/hostop-r.yaml');
    expect(provider!.notify).toEqual(['grafana-server.service']);
    expect(parse(provider!.content).providers[0]).toMatchObject({
      name: 'hostop-r',
      folder: 'Ops $$team',
      type: 'file',
      options: { path: '/etc/grafana/dashboards/hostop/r', foldersFromFilesStructure: false },
    });
  });

  it.each([
    [{ dashboard: { title: 'T' } }, '/spec/dashboard/uid: required field is missing'],
    [{ dashboard: { uid: 'bad uid!', title: 'T' } }, '/spec/dashboard/uid: '],
    [
      { dashboard: { uid: 'u', title: 'T', __inputs: [] } },
      '/spec/dashboard/__inputs: the dashboard was exported for sharing externally; export it again with that option off',
    ],
  ])('rejects %j', (spec, message) => {
    expectProblem(errors('GrafanaDashboard', spec), message);
  });
});
