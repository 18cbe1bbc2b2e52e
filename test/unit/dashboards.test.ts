import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { createMetrics } from '../../src/observe/metrics.js';
import { kindSchemas } from '../../src/source/crds.js';

// Dashboards are checked against the real promtool (PromQL syntax) and against the metric names that really
// exist: hostop's own registry (its metrics plus prom-client's process metrics), Prometheus' `up`/`ALERTS`,
// and the names the OpenTelemetry Collector's prometheus exporter gives Claude Code's metrics.
const root = join(import.meta.dirname, '../..');
const grafanaDir = join(root, 'manifests/grafana');
const STABLE_UIDS: Record<string, string> = {
  'hostop.json': 'hostop-overview',
  'claude-code-fleet.json': 'claude-code-fleet',
};
const CLAUDE_CODE_METRICS = [
  'claude_code_session_count_total',
  'claude_code_token_usage_tokens_total',
  'claude_code_cost_usage_USD_total',
  'claude_code_active_time_seconds_total',
  'claude_code_lines_of_code_count_total',
  'claude_code_commit_count_total',
  'claude_code_pull_request_count_total',
  'claude_code_code_edit_tool_decision_total',
];

interface Target {
  refId: string;
  expr: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
  gridPos: { x: number; y: number; w: number; h: number };
}
interface Variable {
  name: string;
  type: string;
  query: unknown;
  datasource?: { type: string; uid: string };
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboards = readdirSync(grafanaDir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({ file, json: JSON.parse(readFileSync(join(grafanaDir, file), 'utf8')) as Dashboard }));

const flatten = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...flatten(p.panels ?? [])]);
const queries = dashboards.flatMap(({ file, json }) =>
  flatten(json.panels).flatMap((panel) => (panel.targets ?? []).map((t) => ({ file, panel, target: t }))),
);

/** Grafana's variables replaced by what Prometheus would see once Grafana has interpolated them. */
function interpolate(expr: string): string {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}/g, '5m')
    .replace(/\$\{[^}]+\}|\$[A-Za-z_]\w*/g, 'x');
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset']);
const BINARY_WORDS = new Set(['and', 'or', 'unless', 'atan2', 'inf', 'nan']);

/** Metric names a PromQL expression selects: identifiers outside strings, matchers, ranges and label lists. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = [...bare.matchAll(/(?<![\w:.])([A-Za-z_:][\w:]*)\b(?!\s*\()/g)].map((m) => m[1]!);
  return names.filter((n) => !KEYWORDS.has(n) && !BINARY_WORDS.has(n.toLowerCase()));
}

const metrics = createMetrics();
const knownMetrics = new Set<string>(['up', 'ALERTS', ...CLAUDE_CODE_METRICS]);
// prom-client's typings declare `type` a numeric enum; at run time it is the string ('histogram', ...).
for (const m of await metrics.registry.getMetricsAsJSON()) {
  knownMetrics.add(m.name);
  if (String(m.type) === 'histogram')
    for (const s of ['_bucket', '_sum', '_count']) knownMetrics.add(m.name + s);
  if (String(m.type) === 'summary') for (const s of ['_sum', '_count']) knownMetrics.add(m.name + s);
}
metrics.registry.clear();

const scratch = mkdtempSync(join(tmpdir(), 'hostop-dashboards-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the metric-name extractor used below', () => {
  it.each([
    ['sum by (host) (rate(foo_total{a="b"}[5m])) / on (x) group_left (y) bar', ['foo_total', 'bar']],
    ['histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))', ['x_bucket']],
    ['count(up{job="hostop"} == 0) or vector(0)', ['up']],
    ['sum(a) without (b) unless c offset 5m', ['a', 'c']],
    [
      'max(hostop_desired_state_last_load_timestamp_seconds) * 1000',
      ['hostop_desired_state_last_load_timestamp_seconds'],
    ],
  ])('%s', (expr, names) => {
    expect(metricNames(expr)).toEqual(names);
  });
});

describe('Grafana dashboards', () => {
  it('are the expected files with stable, unique uids', () => {
    expect(dashboards.map((d) => d.file)).toEqual(Object.keys(STABLE_UIDS).sort());
    for (const { file, json } of dashboards) expect(json.uid, file).toBe(STABLE_UIDS[file]);
  });

  it.each(dashboards.map((d) => [d.file, d.json] as const))(
    '%s has a datasource variable every query uses',
    (_, json) => {
      expect(json.schemaVersion).toBeGreaterThanOrEqual(36);
      const vars = json.templating.list;
      expect(vars.find((v) => v.name === 'datasource')).toMatchObject({
        type: 'datasource',
        query: 'prometheus',
      });
      for (const v of vars.filter((v) => v.type === 'query'))
        expect(v.datasource?.uid, v.name).toBe('${datasource}');
      for (const panel of flatten(json.panels).filter((p) => p.type !== 'row')) {
        expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(panel.targets?.length ?? 0, panel.title).toBeGreaterThan(0);
        for (const t of panel.targets ?? [])
          expect(t.datasource?.uid, `${panel.title} ${t.refId}`).toBe('${datasource}');
      }
    },
  );

  it.each(dashboards.map((d) => [d.file, d.json] as const))(
    '%s has unique panel ids on a 24-column grid',
    (_, json) => {
      const panels = flatten(json.panels);
      expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
      for (const p of panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    },
  );

  it('has queries that all parse with promtool', () => {
    const rules = {
      groups: [
        {
          name: 'dashboard-queries',
          rules: queries.map(({ file, panel, target }) => ({
            record: `dashboard:${basename(file, '.json').replace(/\W/g, '_')}:panel_${panel.id}_${target.refId}`,
            expr: interpolate(target.expr),
          })),
        },
      ],
    };
    const file = join(scratch, 'dashboard-queries.yml');
    writeFileSync(file, stringify(rules));
    const run = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8', timeout: 60_000 });
    if ((run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      throw new Error('promtool not found on PATH: install it with `apt-get install -y prometheus` (Debian)');
    }
    expect(`${run.stdout}${run.stderr}`).toContain(`SUCCESS: ${queries.length} rules found`);
    expect(run.status).toBe(0);
    expect(queries.length).toBeGreaterThan(30);
  });

  it.each(queries.map((q) => [`${q.file} #${q.panel.id} ${q.panel.title} ${q.target.refId}`, q.target.expr]))(
    '%s selects only metrics that exist',
    (_, expr) => {
      const names = metricNames(interpolate(expr));
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) expect(knownMetrics, name).toContain(name);
    },
  );

  it.each(dashboards.map((d) => [d.file, d.json] as const))(
    '%s variables query metrics that exist',
    (_, json) => {
      for (const v of json.templating.list.filter((v) => v.type === 'query')) {
        const query = (v.query as { query: string }).query;
        const metric = /^label_values\(\s*([A-Za-z_:][\w:]*)\s*,/.exec(query)?.[1];
        expect(knownMetrics, `${v.name}: ${query}`).toContain(metric);
      }
    },
  );

  it('show what the issue asks of each dashboard', () => {
    const exprs = (file: string) =>
      queries
        .filter((q) => q.file === file)
        .map((q) => q.target.expr)
        .join('\n');
    const hostop = exprs('hostop.json');
    for (const needed of [
      'sum by (host, kind) (hostop_resource_drifted',
      'hostop_drift_corrections_total',
      'sum by (result) (rate(hostop_reconcile_total',
      'histogram_quantile(0.5, sum by (le) (rate(hostop_reconcile_duration_seconds_bucket',
      'histogram_quantile(0.95, sum by (le) (rate(hostop_reconcile_duration_seconds_bucket',
      'hostop_host_up',
      'hostop_host_key_mismatch',
      'hostop_desired_state_valid',
      'max by (revision) (hostop_desired_state_info)',
    ]) {
      expect(hostop).toContain(needed);
    }
    const fleet = exprs('claude-code-fleet.json');
    for (const metric of CLAUDE_CODE_METRICS) expect(fleet).toContain(metric);
    for (const needed of [
      'sum by (type) (rate(claude_code_token_usage_tokens_total',
      'sum by (model)',
      'by (host_name)',
    ]) {
      expect(fleet).toContain(needed);
    }
  });
});

describe('desired-state/grafana-dashboards.yaml', () => {
  const yamlFile = join(root, 'desired-state/grafana-dashboards.yaml');
  const docs = parseAllDocuments(readFileSync(yamlFile, 'utf8')).map((d) => d.toJS());

  it('holds one GrafanaDashboard per JSON file, in sync with it', () => {
    expect(docs.map((d) => d.metadata.name)).toEqual(dashboards.map((d) => basename(d.file, '.json')));
    for (const [i, doc] of docs.entries()) {
      expect(doc).toEqual({
        apiVersion: 'hostop.dev/v1alpha1',
        kind: 'GrafanaDashboard',
        metadata: { name: basename(dashboards[i]!.file, '.json') },
        spec: { hosts: ['monitoring-01'], folder: 'Fleet', dashboard: dashboards[i]!.json },
      });
    }
  });

  it('validates against the GrafanaDashboard CRD', () => {
    const schema = kindSchemas().get('GrafanaDashboard');
    expect(schema).toBeDefined();
    for (const doc of docs) {
      const ok = schema!.validateSpec(structuredClone(doc.spec));
      expect(schema!.validateSpec.errors ?? [], doc.metadata.name).toEqual([]);
      expect(ok).toBe(true);
    }
  });

  it('is byte-for-byte what scripts/sync-manifests.ts writes (its --check passes)', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/sync-manifests.ts', '--check'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(`${run.stdout}${run.stderr}`).toContain('is up to date');
    expect(run.status).toBe(0);
  });
});
