import type { FileIntent, HostRef, IntentPart, Resource } from '../core/model.js';
import type { GrafanaDashboardSpec } from '../generated/crd-types.js';
import { escapeDollars, grafanaService } from './grafana.js';
import type { KindModule } from './kind.js';
import { managedHeader, toJson, toYaml } from './render-output.js';

/**
 * Each resource gets its own directory and provider, so removing one never touches another's dashboards. Under
 * /etc/grafana, not /var/lib/grafana: Grafana's own package makes /var/lib/grafana grafana:grafana and keeps
 * /etc/grafana root's ("configuration files should not be modifiable by grafana user, as this can be a security
 * issue": grafana/grafana packaging/deb/control/postinst). In the grafana user's directory hostop could only
 * write as that user (SECURITY.md), and Grafana could rewrite the dashboards it is given; it only has to read
 * them (the provider's `options.path`).
 */
const DASHBOARD_ROOT = '/etc/grafana/dashboards/hostop';

function render(res: Resource<GrafanaDashboardSpec>, _host: HostRef): IntentPart {
  const ref = { kind: res.kind, name: res.metadata.name };
  const spec = res.spec;
  const dir = `${DASHBOARD_ROOT}/${res.metadata.name}`;
  // A numeric id belongs to the Grafana database it was exported from; provisioning matches on uid.
  const { id: _id, ...dashboard } = spec.dashboard;
  const provider = {
    apiVersion: 1,
    providers: [
      escapeDollars({
        name: `hostop-${res.metadata.name}`,
        orgId: spec.orgId,
        folder: spec.folder,
        ...(spec.folderUid ? { folderUid: spec.folderUid } : {}),
        type: 'file',
        disableDeletion: false,
        updateIntervalSeconds: spec.updateIntervalSeconds,
        allowUiUpdates: false,
        options: { path: dir, foldersFromFilesStructure: false },
      }),
    ],
  };
  const file = (path: string, content: string, format: 'json' | 'yaml', notify: string[]): FileIntent => ({
    path,
    content,
    mode: '0644',
    owner: 'root',
    group: 'root',
    format,
    notify,
    secrets: [],
    resource: ref,
  });
  return {
    files: [
      // Grafana polls the JSON every updateIntervalSeconds: no restart (and no $-escaping: JSON is not interpolated).
      file(`${dir}/${spec.dashboard.uid}.json`, toJson(dashboard), 'json', []),
      file(
        `/etc/grafana/provisioning/dashboards/hostop-${res.metadata.name}.yaml`,
        toYaml(provider, managedHeader(res, '#')),
        'yaml',
        [grafanaService(ref).unit],
      ),
    ],
    services: [grafanaService(ref)],
  };
}

function validate(res: Resource<GrafanaDashboardSpec>): { path: string; message: string }[] {
  // Exported "for sharing externally", data sources become ${DS_...} inputs that only the import UI fills in.
  if ('__inputs' in res.spec.dashboard) {
    return [
      {
        path: '/spec/dashboard/__inputs',
        message: 'the dashboard was exported for sharing externally; export it again with that option off',
      },
    ];
  }
  return [];
}

export const grafanaDashboard: KindModule<GrafanaDashboardSpec> = {
  kind: 'GrafanaDashboard',
  render,
  validate,
};
