import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningDaemon, metric, startDaemon, waitFor } from '../support/daemon.js';
import { desiredState } from '../support/fleet.js';
import { labSsh } from '../support/lab.js';

// End to end: a real Prometheus (Debian's package) scrapes a running hostop in detect mode, evaluates the real
// alert rules of manifests/prometheus/, and the drift alert goes pending -> firing after a host file is
// tampered with, then resolves after the fix. Lab hosts lab-31 … lab-35 belong to this file.
const HOST = 'lab-31';
const PATH = '/etc/hostop-e2e-drift';
const RULES = join(import.meta.dirname, '..', '..', 'manifests', 'prometheus', 'hostop-alerts.yml');

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

interface Alert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

describe('drift alert through a real Prometheus', () => {
  let daemon: RunningDaemon;
  let prom: ChildProcess;
  let promUrl: string;
  const alerts = async (): Promise<Alert[]> =>
    ((await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as { data: { alerts: Alert[] } }).data.alerts;
  const drift = async () =>
    (await alerts()).find((a) => a.labels.alertname === 'HostopDriftPersists' && a.labels.host === HOST);

  beforeAll(async () => {
    labSsh(HOST, `rm -rf /var/lib/hostop; echo good > ${PATH}`);
    const ds = desiredState(
      [HOST],
      `apiVersion: hostop.dev/v1alpha1\nkind: File\nmetadata: { name: e2e }\nspec: { hosts: [${HOST}], path: ${PATH}, content: "good\\n" }\n`,
    );
    daemon = await startDaemon(ds, ['--mode', 'detect', '--resync', '1s']);
    const dir = mkdtempSync(join(tmpdir(), 'hostop-prom-'));
    // The real rules, with only their `for:` windows shortened so the test runs in seconds, not minutes.
    writeFileSync(join(dir, 'rules.yml'), readFileSync(RULES, 'utf8').replace(/for: \d+m/g, 'for: 3s'));
    const target = daemon.url.replace('http://', '');
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s, evaluation_interval: 1s }\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: hostop\n    static_configs: [{ targets: ["${target}"] }]\n`,
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    );
    await waitFor(
      'prometheus ready',
      async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.status === 200,
      30_000,
    );
  });

  afterAll(async () => {
    prom?.kill('SIGTERM');
    expect(await daemon.stop()).toBe(0);
  });

  it(
    'fires HostopDriftPersists for a tampered file in detect mode and resolves after the fix',
    { timeout: 400_000 },
    async () => {
      await waitFor(
        'hostop scraped',
        async () => {
          const r = (await (await fetch(`${promUrl}/api/v1/query?query=up{job="hostop"}`)).json()) as {
            data: { result: { value: [number, string] }[] };
          };
          return r.data.result[0]?.value[1] === '1';
        },
        // Generous: on a loaded machine Prometheus's first scrapes come late; the state is what is awaited.
        120_000,
      );
      expect(await drift()).toBeUndefined();

      labSsh(HOST, `echo tampered > ${PATH}`);
      await waitFor(
        'drift gauge',
        async () =>
          (await metric(daemon.url, 'hostop_resource_drifted', { host: HOST, kind: 'File', name: 'e2e' })) ===
          1,
        15_000,
      );
      const pending = await waitFor('pending', async () => (await drift())?.state, 120_000, 250);
      expect(['pending', 'firing']).toContain(pending);
      const firing = await waitFor('firing', async () => (await drift())?.state === 'firing', 120_000, 250);
      expect(firing).toBe(true);
      const alert = (await drift())!;
      expect(alert.labels).toMatchObject({ severity: 'warning', host: HOST, kind: 'File', name: 'e2e' });
      expect(labSsh(HOST, `cat ${PATH}`).toString()).toBe('tampered\n'); // detect mode left it alone

      labSsh(HOST, `echo good > ${PATH}`);
      await waitFor('resolved', async () => (await drift()) === undefined, 120_000, 250);
    },
  );
});
