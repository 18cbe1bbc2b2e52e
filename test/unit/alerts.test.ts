import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../../src/observe/metrics.js';

// The alert rules are checked by the real promtool (Debian package `prometheus`), never by a
// re-implementation: a missing promtool is a failure with the install hint, not a skip.
const dir = join(import.meta.dirname, '../../manifests/prometheus');
const rulesFile = join(dir, 'hostop-alerts.yml');
const testsFile = join(dir, 'hostop-alerts.test.yml');

// The names hostop really exports (its own registry); an alert on any other name would never fire.
const metrics = createMetrics({ defaultMetrics: false });
// prom-client's typings declare `type` a numeric enum; at run time it is the string ('histogram', ...).
const hostopMetrics = new Set(
  (await metrics.registry.getMetricsAsJSON()).flatMap((m) =>
    String(m.type) === 'histogram'
      ? [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`]
      : [m.name],
  ),
);
metrics.registry.clear();

interface Rule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface AlertTest {
  alertname: string;
  exp_alerts?: unknown[];
}

function promtool(args: string[]): { status: number; output: string } {
  const run = spawnSync('promtool', args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  if (run.error && (run.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error('promtool not found on PATH: install it with `apt-get install -y prometheus` (Debian)');
  }
  if (run.error) throw run.error;
  return { status: run.status ?? -1, output: `${run.stdout}${run.stderr}` };
}

const rules: Rule[] = parse(readFileSync(rulesFile, 'utf8')).groups.flatMap(
  (g: { rules: Rule[] }) => g.rules,
);
const alertTests: AlertTest[] = parse(readFileSync(testsFile, 'utf8')).tests.flatMap(
  (t: { alert_rule_test?: AlertTest[] }) => t.alert_rule_test ?? [],
);

describe('hostop alert rules', () => {
  it('pass promtool check rules', () => {
    const { status, output } = promtool(['check', 'rules', rulesFile]);
    expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(status).toBe(0);
  });

  it('pass their promtool unit tests', () => {
    const { status, output } = promtool(['test', 'rules', testsFile]);
    expect(output).not.toContain('FAILED');
    expect(status).toBe(0);
  });

  it('ship a scrape job that promtool accepts as Prometheus config', () => {
    const { status, output } = promtool(['check', 'config', join(dir, 'scrape-hostop.yml')]);
    expect(output).toContain('SUCCESS');
    expect(status).toBe(0);
  });

  it('cover the alerts the issue asks for', () => {
    const names = rules.map((r) => r.alert);
    for (const required of [
      'HostopDriftPersists',
      'HostopReconcileErrorsHigh',
      'HostopHostUnreachable',
      'HostopHostKeyMismatch',
      'HostopRollback',
      'HostopDesiredStateInvalid',
      'HostopDown',
      'HostopMetricsAbsent',
    ]) {
      expect(names).toContain(required);
    }
    expect(rules.find((r) => r.alert === 'HostopDown')?.expr).toContain('up{job="hostop"} == 0');
    expect(rules.find((r) => r.alert === 'HostopMetricsAbsent')?.expr).toContain('absent(up{job="hostop"})');
    expect(rules.find((r) => r.alert === 'HostopHostKeyMismatch')?.labels?.severity).toBe('critical');
  });

  it.each(rules.map((r) => [r.alert, r] as const))(
    '%s has severity, summary, description and runbook',
    (_, rule) => {
      expect(['critical', 'warning', 'info']).toContain(rule.labels?.severity);
      for (const key of ['summary', 'description', 'runbook']) {
        expect(rule.annotations?.[key]?.trim().length ?? 0).toBeGreaterThan(10);
      }
      // Where the expression keeps host/kind/name labels, the text must name them.
      const text = `${rule.annotations?.summary} ${rule.annotations?.description}`;
      for (const label of ['host', 'kind', 'name', 'reason']) {
        if (new RegExp(`by \\(([^)]*\\b${label}\\b[^)]*)\\)`).test(rule.expr)) {
          expect(text, `${rule.alert} keeps label ${label}`).toContain(`$labels.${label}`);
        }
      }
    },
  );

  it.each(rules.map((r) => [r.alert, r] as const))('%s uses only metrics of the contract', (_, rule) => {
    for (const name of rule.expr.match(/\bhostop_[a-z_]+/g) ?? []) {
      expect(hostopMetrics, `${rule.alert} uses ${name}`).toContain(name);
    }
  });

  it.each(rules.map((r) => [r.alert] as const))('%s has a firing and a silent unit test', (alert) => {
    const cases = alertTests.filter((t) => t.alertname === alert);
    expect(
      cases.some((t) => (t.exp_alerts ?? []).length > 0),
      'a firing case',
    ).toBe(true);
    expect(
      cases.some((t) => (t.exp_alerts ?? []).length === 0),
      'a silent case',
    ).toBe(true);
  });
});
