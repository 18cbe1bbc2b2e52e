import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { hostDocs, hostop } from '../support/fleet.js';
import { labHost, labSsh } from '../support/lab.js';

// The reference fleet of desired-state/, unchanged, on real lab hosts: each of its 16 Host resources is
// replaced (through --inventory, as a user points it at other machines) by a lab host of this file's own:
// lab-51 … lab-66, in the order of desired-state/hosts.yaml, with the reference labels.
const DESIRED = resolve(import.meta.dirname, '../../desired-state');
const FIRST_LAB_HOST = 51;

interface HostDoc {
  kind?: string;
  metadata: { name: string; labels?: Record<string, string> };
}

const reference = parseAllDocuments(readFileSync(join(DESIRED, 'hosts.yaml'), 'utf8'))
  .map((d) => d.toJS() as HostDoc)
  .filter((d) => d?.kind === 'Host')
  .map((d) => d.metadata);
const labName = (i: number) => `lab-${String(FIRST_LAB_HOST + i).padStart(2, '0')}`;

function inventory(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hostop-ref-'));
  const file = join(dir, 'inventory.yaml');
  writeFileSync(
    file,
    hostDocs(reference.map((h, i) => ({ ...labHost(labName(i)), name: h.name, labels: h.labels ?? {} }))),
  );
  return file;
}

describe('the reference fleet (desired-state/) on 16 lab hosts', () => {
  it('plan shows the whole fleet, apply converges it, a second plan exits 0; pruned, every host is as before', async () => {
    expect(reference).toHaveLength(16);
    const inv = inventory();
    // Start from hosts hostop does not manage yet: an empty desired state (the same Hosts, no resources)
    // prunes whatever an earlier run of this test left, restoring the files that were there before.
    const empty = mkdtempSync(join(tmpdir(), 'hostop-ref-empty-'));
    writeFileSync(join(empty, 'hosts.yaml'), readFileSync(join(DESIRED, 'hosts.yaml')));
    const reset = await hostop(['apply', empty, '--inventory', inv]);
    expect(reset.code, reset.stdout + reset.stderr).toBe(0);

    const mon = labName(0);
    const pristine = labSsh(mon, 'sha256sum /etc/otelcol-contrib/config.yaml').toString();

    const valid = await hostop(['validate', DESIRED, '--inventory', inv]);
    expect(valid.code, valid.stdout + valid.stderr).toBe(0);

    const plan = await hostop(['plan', DESIRED, '--inventory', inv]);
    expect(plan.code, plan.stderr).toBe(2);
    for (const h of reference) expect(plan.stdout).toContain(`host ${h.name}: changes`);
    expect(plan.stdout).toMatch(/Plan: 16 host\(s\) to change, 0 unchanged, 0 unreachable, 0 failed/);
    // One resource of each family, with the addresses of the lab hosts that stand in for the fleet.
    const monitoring = labHost(labName(0)).address;
    expect(plan.stdout).toContain('/etc/otelcol-contrib/config.yaml');
    expect(plan.stdout).toContain('/etc/tempo/config.yml');
    expect(plan.stdout).toContain('/etc/php/8.2/fpm/pool.d/00-hostop-legacy-shop.conf');
    expect(plan.stdout).toContain(`"OTEL_EXPORTER_OTLP_ENDPOINT": "http://${monitoring}:4317"`);

    const apply = await hostop(['apply', DESIRED, '--inventory', inv]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(/Apply: 16 host\(s\) converged/);

    const again = await hostop(['plan', DESIRED, '--inventory', inv]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/Plan: 0 host\(s\) to change, 16 unchanged, 0 unreachable, 0 failed/);

    // The independent witness: the collector on the monitoring host runs the config hostop wrote and is
    // healthy, and an agent host's managed settings name the collector.
    expect(
      labSsh(mon, 'systemctl is-active otelcol-contrib tempo prometheus grafana-server').toString(),
    ).toBe('active\nactive\nactive\nactive\n');
    expect(labSsh(mon, 'curl -fs -o /dev/null -w "%{http_code}" http://127.0.0.1:13133/').toString()).toBe(
      '200',
    );
    const agent = reference.findIndex((h) => h.labels?.role === 'agent');
    const settings = JSON.parse(
      labSsh(labName(agent), 'cat /etc/claude-code/managed-settings.d/10-telemetry.json').toString(),
    ) as { env: Record<string, string> };
    expect(settings.env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(`http://${monitoring}:4317`);
    expect(settings.env.OTEL_RESOURCE_ATTRIBUTES).toContain(`host.name=${reference[agent]!.name}`);

    // The legacy shop's own pool (real php-fpm) now carries the OTEL_* values and the fail-safe bootstrap.
    const php = reference.findIndex((h) => h.labels?.app === 'php');
    const res = labSsh(
      labName(php),
      'cd /srv/legacy-shop && SCRIPT_FILENAME=/srv/legacy-shop/index.php REQUEST_METHOD=GET cgi-fcgi -bind -connect /run/php/php8.2-fpm-legacy-shop.sock',
    ).toString();
    expect(res).not.toMatch(/^Status:/m);
    const shop = JSON.parse(res.slice(res.indexOf('\r\n\r\n') + 4)) as {
      otel: Record<string, string>;
      bootstrap: string;
    };
    expect(shop.otel.OTEL_SERVICE_NAME).toBe('legacy-shop');
    expect(shop.otel.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(`http://${monitoring}:4318`);
    expect(shop.bootstrap).toBe('no-extension');
    // The FastAPI services run under opentelemetry-instrument.
    const fastapi = reference.findIndex((h) => h.name === 'fastapi-01');
    const env = JSON.parse(labSsh(labName(fastapi), 'curl -fs 127.0.0.1:8001/env').toString()) as {
      environ: Record<string, string>;
    };
    expect(env.environ.PYTHONPATH).toContain('/opt/orders-api/venv/lib/');
    expect(env.environ.OTEL_SERVICE_NAME).toBe('orders-api');

    // Every resource leaves the desired state: what hostop created is deleted, what was there before it is
    // put back byte for byte, on all 16 hosts.
    const prune = await hostop(['apply', empty, '--inventory', inv]);
    expect(prune.code, prune.stdout + prune.stderr).toBe(0);
    expect(prune.stdout).toContain('- restore /etc/otelcol-contrib/config.yaml');
    expect(prune.stdout).toContain('- delete /etc/claude-code/managed-settings.d/10-telemetry.json');
    expect(labSsh(mon, 'sha256sum /etc/otelcol-contrib/config.yaml').toString()).toBe(pristine);
    expect(
      labSsh(
        labName(agent),
        'ls /etc/claude-code/managed-settings.d/10-telemetry.json 2>&1 || true',
      ).toString(),
    ).toMatch(/No such file/);
    const after = await hostop(['plan', DESIRED, '--inventory', inv]);
    expect(after.stdout).toMatch(/Plan: 16 host\(s\) to change/);
  });
});
