import { appInstrumentation } from './app-instrumentation.js';
import { claudeCodeSettings } from './claude-code-settings.js';
import { file } from './file.js';
import { grafanaDashboard } from './grafana-dashboard.js';
import { grafanaDatasource } from './grafana-datasource.js';
import { host } from './host.js';
import type { KindModule } from './kind.js';
import { otelCollector } from './otel-collector.js';
import { packageKind } from './package.js';
import { prometheusScrape } from './prometheus-scrape.js';
import { service } from './service.js';
import { tempo } from './tempo.js';

/** Every kind hostop knows; each has its CRD in crds/. Adding a kind: one file plus one line here. */
// biome-ignore lint/suspicious/noExplicitAny: each module is typed by its own spec; the registry is heterogeneous.
export const kinds: readonly KindModule<any>[] = [
  host,
  file,
  service,
  otelCollector,
  tempo,
  grafanaDatasource,
  grafanaDashboard,
  claudeCodeSettings,
  appInstrumentation,
  prometheusScrape,
  packageKind,
];

const byName = new Map(kinds.map((k) => [k.kind, k]));

export function kindByName(kind: string): KindModule | undefined {
  return byName.get(kind) as KindModule | undefined;
}
