import type { HostRef, IntentPart, Resource, Snapshot } from '../core/model.js';
import type { GrafanaDatasourceSpec } from '../generated/crd-types.js';
import { escapeDollars, grafanaService } from './grafana.js';
import { addressFrom, hostPort } from './host-address.js';
import type { KindModule } from './kind.js';
import { managedHeader, secretForms, sortKeysDeep, toYaml } from './render-output.js';
import { defaultTags, metricQueries, serviceLabel } from './span-metrics-queries.js';

type Datasource = GrafanaDatasourceSpec['datasources'][number];

/** jsonData keys the typed `tempo` block writes; setting them in jsonData as well would be ambiguous. */
const TEMPO_KEYS = ['tracesToMetrics', 'serviceMap', 'nodeGraph', 'search'];

function url(ds: Datasource, host: HostRef, snapshot: Snapshot): string {
  if (ds.url) return ds.url;
  const ep = ds.endpoint!;
  return `${ep.scheme}://${hostPort(addressFrom(snapshot, host, ep.host), ep.port)}${ep.path}`;
}

/**
 * Tempo -> Prometheus links: the span metrics of the span's service (tracesToMetrics, whose queries are what makes
 * Grafana show a link at all) and the service graph.
 */
function tempoJsonData(tempo: NonNullable<Datasource['tempo']>): Record<string, unknown> {
  const tags = tempo.tags ?? defaultTags(tempo.spanMetrics);
  return {
    tracesToMetrics: {
      datasourceUid: tempo.metricsDatasourceUid,
      spanStartTimeShift: '-1h',
      spanEndTimeShift: '1h',
      tags: tags.map((t) => (t.value ? { key: t.key, value: t.value } : { key: t.key })),
      queries: metricQueries(tempo.spanMetrics),
    },
    serviceMap: { datasourceUid: tempo.metricsDatasourceUid },
    nodeGraph: { enabled: true },
    search: { hide: false },
  };
}

/** A service.name mapped to a label the chosen span metrics do not have would make every link come back empty. */
function tagProblems(
  tempo: NonNullable<Datasource['tempo']>,
  at: string,
): { path: string; message: string }[] {
  const want = serviceLabel(tempo.spanMetrics);
  return (tempo.tags ?? []).flatMap((t, j) => {
    const label = t.value || t.key;
    if (t.key !== 'service.name' || label === want) return [];
    return [
      {
        path: `${at}/tempo/tags/${j}`,
        message: `${tempo.spanMetrics} span metrics carry service.name in label ${JSON.stringify(want)}, not ${JSON.stringify(label)}`,
      },
    ];
  });
}

function datasourceEntry(ds: Datasource, host: HostRef, snapshot: Snapshot): Record<string, unknown> {
  const jsonData = { ...(ds.jsonData ?? {}), ...(ds.tempo ? tempoJsonData(ds.tempo) : {}) };
  const secure: Record<string, string> = { ...(ds.secureJsonData ?? {}) };
  if (ds.basicAuth) secure.basicAuthPassword = ds.basicAuth.password;
  return {
    name: ds.name,
    type: ds.type,
    uid: ds.uid,
    orgId: ds.orgId,
    access: ds.access,
    url: url(ds, host, snapshot),
    ...(ds.basicAuth ? { basicAuth: true, basicAuthUser: ds.basicAuth.user } : {}),
    isDefault: ds.isDefault,
    editable: ds.editable,
    ...(Object.keys(jsonData).length > 0 ? { jsonData: sortKeysDeep(jsonData) } : {}),
    ...(Object.keys(secure).length > 0 ? { secureJsonData: sortKeysDeep(secure) } : {}),
  };
}

/** Every secret as it appears in the file: with `$` doubled (and quoted forms, see secretForms). */
function secretsOf(spec: GrafanaDatasourceSpec): string[] {
  const raw = spec.datasources.flatMap((ds) => [
    ...Object.values(ds.secureJsonData ?? {}),
    ...(ds.basicAuth ? [ds.basicAuth.password] : []),
  ]);
  return secretForms(raw.map((s) => escapeDollars(s) as string));
}

function render(res: Resource<GrafanaDatasourceSpec>, host: HostRef, snapshot: Snapshot): IntentPart {
  const ref = { kind: res.kind, name: res.metadata.name };
  const file = {
    apiVersion: 1,
    ...(res.spec.prune ? { prune: true } : {}),
    datasources: res.spec.datasources.map((ds) => escapeDollars(datasourceEntry(ds, host, snapshot))),
  };
  return {
    files: [
      {
        path: `/etc/grafana/provisioning/datasources/${res.metadata.name}.yaml`,
        content: toYaml(file, managedHeader(res, '#')),
        // May hold secureJsonData: readable by the grafana group only, as the package ships grafana.ini.
        mode: '0640',
        owner: 'root',
        group: 'grafana',
        format: 'yaml',
        notify: [grafanaService(ref).unit],
        secrets: secretsOf(res.spec),
        resource: ref,
      },
    ],
    services: [grafanaService(ref)],
  };
}

function validate(res: Resource<GrafanaDatasourceSpec>): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const list = res.spec.datasources;
  list.forEach((ds, i) => {
    const at = `/spec/datasources/${i}`;
    if ((ds.url === undefined) === (ds.endpoint === undefined)) {
      problems.push({ path: at, message: 'set exactly one of url and endpoint' });
    }
    for (const field of ['name', 'uid'] as const) {
      const first = list.findIndex((other) => other[field] === ds[field]);
      if (first !== i)
        problems.push({
          path: `${at}/${field}`,
          message: `${field} ${JSON.stringify(ds[field])} is also used by datasources[${first}]`,
        });
    }
    if (ds.tempo && ds.type !== 'tempo')
      problems.push({ path: `${at}/tempo`, message: 'only for a data source of type tempo' });
    if (ds.tempo) problems.push(...tagProblems(ds.tempo, at));
    for (const key of ds.tempo ? TEMPO_KEYS : []) {
      if (ds.jsonData && key in ds.jsonData) {
        problems.push({
          path: `${at}/jsonData/${key}`,
          message: 'set by the tempo block; remove it from jsonData',
        });
      }
    }
    if (ds.basicAuth && ds.secureJsonData && 'basicAuthPassword' in ds.secureJsonData) {
      problems.push({
        path: `${at}/secureJsonData/basicAuthPassword`,
        message: 'set by basicAuth.password; remove one',
      });
    }
  });
  if (list.filter((ds) => ds.isDefault).length > 1) {
    problems.push({ path: '/spec/datasources', message: 'at most one data source can be isDefault' });
  }
  return problems;
}

export const grafanaDatasource: KindModule<GrafanaDatasourceSpec> = {
  kind: 'GrafanaDatasource',
  render,
  validate,
  hostReferences: (res) =>
    res.spec.datasources.flatMap((ds, i) =>
      ds.endpoint ? [{ path: `/spec/datasources/${i}/endpoint/host`, host: ds.endpoint.host }] : [],
    ),
};
