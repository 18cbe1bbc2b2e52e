import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { type LabHost, hostResourcesYaml } from './lab-hosts.js';

/**
 * The benchmark's desired state, sized like one host of the reference fleet: per host three files under
 * /etc/hostop-bench/ and one or two services. Every host gets `app.yaml` (shared, ~1.5 KB) and its own
 * `host.conf` (the file the commit-to-converged edits change), both reloading billing-api; even-numbered hosts
 * also get `litellm.env` (0600, reloads litellm) and run litellm, odd ones get `banner.txt` (no service).
 * Only the two stand-in units and files under /etc/hostop-bench/ are touched, so the benchmark can share
 * the lab with other test suites.
 */
export const BENCH_DIR = '/etc/hostop-bench';
export const HOST_CONF = `${BENCH_DIR}/host.conf`;

const APP_YAML = `# billing-api configuration (hostop benchmark)
server:
  listen: 0.0.0.0:8002
  workers: 4
  timeouts:
    read: 15s
    write: 30s
    idle: 120s
database:
  url: postgresql://billing@db.internal:5432/billing
  pool:
    min: 2
    max: 20
    lifetime: 30m
telemetry:
  service_name: billing-api
  otlp:
    endpoint: http://monitoring.internal:4318
    protocol: http/protobuf
    timeout: 10s
  resource_attributes:
    deployment.environment: production
    service.namespace: payments
  sampling:
    parent_based: true
    ratio: 0.25
logging:
  level: info
  format: json
  fields: [trace_id, span_id, request_id, user_id]
features:
  invoice_v2: true
  async_webhooks: true
  retry_failed_charges: false
  currency_cache_ttl: 300
limits:
  max_body_bytes: 1048576
  rate_per_minute: 600
  burst: 120
upstreams:
  - name: payments-gateway
    url: https://gateway.internal/v3
    retries: 3
  - name: ledger
    url: http://ledger.internal:8080
    retries: 1
`;

const LITELLM_ENV = `OTEL_EXPORTER_OTLP_ENDPOINT=http://monitoring.internal:4318
OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
OTEL_SERVICE_NAME=litellm
OTEL_RESOURCE_ATTRIBUTES=deployment.environment=production,service.namespace=llm
LITELLM_LOG=INFO
LITELLM_MASTER_KEY_FILE=/etc/litellm/master.key
`;

const BANNER = `This host is managed by hostop. Local edits under ${BENCH_DIR}/ are reverted.\n`;

/** The content of one host's host.conf at edit `revision` (0 is the converged baseline). */
export function hostConf(host: LabHost, revision: number): string {
  return [
    `# ${host.name}: per-host settings (hostop benchmark)`,
    `host = ${host.name}`,
    `address = ${host.address}`,
    `revision = ${revision}`,
    'weight = 100',
    'drain = false',
    `shard = ${Number(host.name.replace(/\D/g, '')) % 8}`,
    '',
  ].join('\n');
}

function isEven(h: LabHost): boolean {
  return Number(h.name.replace(/\D/g, '')) % 2 === 0;
}

function file(name: string, hosts: string[], spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'hostop.dev/v1alpha1', kind: 'File', metadata: { name }, spec: { hosts, ...spec } };
}

function service(name: string, hosts: string[], unit: string): Record<string, unknown> {
  return {
    apiVersion: 'hostop.dev/v1alpha1',
    kind: 'Service',
    metadata: { name },
    spec: { hosts, unit, state: 'running', enabled: true, onChange: 'reload' },
  };
}

function docs(objects: Record<string, unknown>[]): string {
  return objects.map((o) => stringify(o)).join('---\n');
}

/** Writes the whole desired state for `hosts` into `dir` (created if missing). */
export function writeDesiredState(dir: string, hosts: LabHost[]): void {
  mkdirSync(dir, { recursive: true });
  const all = hosts.map((h) => h.name);
  const even = hosts.filter(isEven).map((h) => h.name);
  const odd = hosts.filter((h) => !isEven(h)).map((h) => h.name);
  writeFileSync(join(dir, 'hosts.yaml'), hostResourcesYaml(hosts));
  const shared = [
    file('app-yaml', all, {
      path: `${BENCH_DIR}/app.yaml`,
      content: APP_YAML,
      notify: ['billing-api.service'],
    }),
    service('billing-api', all, 'billing-api.service'),
  ];
  if (even.length) {
    shared.push(
      file('litellm-env', even, {
        path: `${BENCH_DIR}/litellm.env`,
        content: LITELLM_ENV,
        mode: '0600',
        notify: ['litellm.service'],
      }),
      service('litellm', even, 'litellm.service'),
    );
  }
  if (odd.length) shared.push(file('banner', odd, { path: `${BENCH_DIR}/banner.txt`, content: BANNER }));
  writeFileSync(join(dir, 'shared.yaml'), docs(shared));
  for (const h of hosts) writeHostConf(dir, h, 0);
}

/** Rewrites the one resource file of `host` (an edit that changes only that host's intent). */
export function writeHostConf(dir: string, host: LabHost, revision: number): void {
  const text = docs([
    file(`host-conf-${host.name}`, [host.name], {
      path: HOST_CONF,
      content: hostConf(host, revision),
      notify: ['billing-api.service'],
    }),
  ]);
  const path = join(dir, `host-${host.name}.yaml`);
  // Rename over the old file, as an editor or git checkout would: the watcher never sees half a file.
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}
