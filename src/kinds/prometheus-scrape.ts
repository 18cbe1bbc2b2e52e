import type { HostRef, IntentPart, Resource, Snapshot } from '../core/model.js';
import type { PrometheusScrapeSpec } from '../generated/crd-types.js';
import { addressFrom, hostPort } from './host-address.js';
import type { KindModule } from './kind.js';
import { sortedEntries } from './otlp-env.js';
import { managedHeader, toYaml } from './render-output.js';
import { unitName } from './unit-name.js';

type Job = PrometheusScrapeSpec['jobs'][number];

const CONFIG_PATH = '/etc/prometheus/prometheus.yml';
const UNIT = unitName('prometheus');

function labels(map: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(sortedEntries(map));
}

/** Literal targets share one static config; each Host target gets its own, labelled host=<name>. */
function staticConfigs(job: Job, host: HostRef, snapshot: Snapshot): Record<string, unknown>[] {
  const common = labels(job.labels);
  const withLabels = (l: Record<string, string>) => (Object.keys(l).length > 0 ? { labels: l } : {});
  const out: Record<string, unknown>[] = [];
  if (job.targets?.length) out.push({ targets: job.targets, ...withLabels(common) });
  for (const t of job.hostTargets ?? []) {
    out.push({
      targets: [hostPort(addressFrom(snapshot, host, t.host), t.port)],
      labels: labels({ ...common, host: t.host }),
    });
  }
  return out;
}

function render(res: Resource<PrometheusScrapeSpec>, host: HostRef, snapshot: Snapshot): IntentPart {
  const spec = res.spec;
  const ref = { kind: res.kind, name: res.metadata.name };
  const externalLabels = labels(spec.externalLabels);
  const config = {
    global: {
      scrape_interval: spec.scrapeInterval,
      evaluation_interval: spec.evaluationInterval,
      ...(Object.keys(externalLabels).length > 0 ? { external_labels: externalLabels } : {}),
    },
    ...(spec.alertmanagers?.length
      ? { alerting: { alertmanagers: [{ static_configs: [{ targets: spec.alertmanagers }] }] } }
      : {}),
    ...(spec.ruleFiles?.length ? { rule_files: spec.ruleFiles } : {}),
    scrape_configs: spec.jobs.map((job) => ({
      job_name: job.name,
      ...(job.scrapeInterval ? { scrape_interval: job.scrapeInterval } : {}),
      metrics_path: job.metricsPath,
      scheme: job.scheme,
      ...(job.honorLabels ? { honor_labels: true } : {}),
      static_configs: staticConfigs(job, host, snapshot),
    })),
  };
  return {
    files: [
      {
        path: CONFIG_PATH,
        content: toYaml(config, managedHeader(res, '#')),
        mode: '0644',
        owner: 'root',
        group: 'root',
        format: 'yaml',
        validate: { argv: ['/usr/bin/promtool', 'check', 'config', '{}'], timeoutMs: 30_000 },
        notify: [UNIT],
        secrets: [],
        resource: ref,
      },
    ],
    services: [
      {
        unit: UNIT,
        // SIGHUP re-reads the config and the rule files; a bad config is refused and the old one keeps running.
        onChange: 'reload',
        health: { type: 'http', url: spec.readyUrl, expectStatus: 200, timeoutMs: 60_000 },
        resource: ref,
      },
    ],
  };
}

function validate(res: Resource<PrometheusScrapeSpec>): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  res.spec.jobs.forEach((job, i) => {
    const first = res.spec.jobs.findIndex((j) => j.name === job.name);
    if (first !== i)
      problems.push({
        path: `/spec/jobs/${i}/name`,
        message: `job ${JSON.stringify(job.name)} is also jobs[${first}]`,
      });
    if (!job.targets?.length && !job.hostTargets?.length) {
      problems.push({ path: `/spec/jobs/${i}`, message: 'a job needs targets or hostTargets' });
    }
    if (job.hostTargets?.length && job.labels && 'host' in job.labels) {
      problems.push({
        path: `/spec/jobs/${i}/labels/host`,
        message: 'hostTargets set the host label themselves; remove it',
      });
    }
  });
  return problems;
}

export const prometheusScrape: KindModule<PrometheusScrapeSpec> = {
  kind: 'PrometheusScrape',
  render,
  validate,
  hostReferences: (res) =>
    res.spec.jobs.flatMap((job, i) =>
      (job.hostTargets ?? []).map((t, j) => ({
        path: `/spec/jobs/${i}/hostTargets/${j}/host`,
        host: t.host,
      })),
    ),
};
