import { describe, expect, it } from 'vitest';
import { startDaemon, waitFor } from '../support/daemon.js';
import { desiredState, hostop, writeDesiredState } from '../support/fleet.js';
import { labSsh } from '../support/lab.js';

// What the kinds make the real components do, on lab hosts whose collector and Tempo are installed as packages
// (stand-in .debs that mirror the release packages: version, unit, ExecReload from 0.125.0) and whose PHP is
// Debian's real php8.2-fpm. lab-36 … lab-40 belong to this file.
const sh = (host: string, cmd: string) => labSsh(host, cmd).toString('utf8');

const collector = (host: string, version: string, environment: string) => `
apiVersion: hostop.dev/v1alpha1
kind: OtelCollector
metadata: { name: collector }
spec:
  hosts: [${host}]
  version: "${version}"
  resourceAttributes: { deployment.environment: ${environment} }
`;

/** Installs the stand-in package of this version (as `dpkg -i` of a release .deb would) and waits for health. */
function installCollector(host: string, version: string): void {
  sh(
    host,
    'rm -rf /var/lib/hostop /etc/systemd/system/otelcol-contrib.service.d && systemctl daemon-reload && ' +
      `dpkg -i /var/cache/hostop-lab/otelcol-contrib_${version}_all.deb >/dev/null && ` +
      // The package's own config back in place (dpkg keeps a changed conffile on reinstall).
      `dpkg-deb --fsys-tarfile /var/cache/hostop-lab/otelcol-contrib_${version}_all.deb | tar -xO ./etc/otelcol-contrib/config.yaml > /etc/otelcol-contrib/config.yaml && ` +
      'systemctl restart otelcol-contrib && for i in $(seq 100); do curl -fs localhost:13133/ >/dev/null && break; sleep 0.1; done',
  );
}

function mainStart(host: string): string {
  return sh(host, 'systemctl show -p ExecMainStartTimestampMonotonic --value otelcol-contrib').trim();
}

/** The sha256 of the config the running collector loaded (the stand-in reports it), and of the file on disk. */
function liveAndOnDisk(host: string): [string, string] {
  const live = JSON.parse(sh(host, 'curl -fs localhost:13133/hostop-standin/config')) as { sha256: string };
  return [live.sha256, sh(host, 'sha256sum /etc/otelcol-contrib/config.yaml').split(' ')[0]!];
}

describe('the collector config goes live the way the installed package allows', () => {
  it('0.123.0 (no ExecReload in its unit): a change is activated by a restart, and the new config runs', async () => {
    const HOST = 'lab-36';
    installCollector(HOST, '0.123.0');
    const dir = desiredState([HOST], collector(HOST, '0.123.0', 'one'));
    const plan = await hostop(['plan', dir]);
    expect(plan.stdout).toContain('unit otelcol-contrib.service: restart');
    const before = mainStart(HOST);
    const apply = await hostop(['apply', dir]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(mainStart(HOST)).not.toBe(before);
    const [live, onDisk] = liveAndOnDisk(HOST);
    expect(live).toBe(onDisk);
    expect(sh(HOST, 'cat /etc/otelcol-contrib/config.yaml')).toContain('value: one');
  });

  it('0.125.0: reloaded in place (same process, a new upSince), the new config runs', async () => {
    const HOST = 'lab-37';
    installCollector(HOST, '0.125.0');
    const dir = desiredState([HOST], collector(HOST, '0.125.0', 'one'));
    expect((await hostop(['apply', dir])).code).toBe(0);
    const before = mainStart(HOST);
    const upSince = JSON.parse(sh(HOST, 'curl -fs localhost:13133/')).upSince as string;
    writeDesiredState(dir, [HOST], collector(HOST, '0.125.0', 'two'));
    const plan = await hostop(['plan', dir]);
    expect(plan.stdout).toContain('unit otelcol-contrib.service: reload');
    const apply = await hostop(['apply', dir]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(mainStart(HOST)).toBe(before);
    expect(JSON.parse(sh(HOST, 'curl -fs localhost:13133/')).upSince).not.toBe(upSince);
    const [live, onDisk] = liveAndOnDisk(HOST);
    expect(live).toBe(onDisk);
    expect(sh(HOST, 'cat /etc/otelcol-contrib/config.yaml')).toContain('value: two');
  });

  it('a reload that fails, or that leaves the old config running, is rolled back and says why', async () => {
    const HOST = 'lab-38';
    installCollector(HOST, '0.125.0');
    const dir = desiredState([HOST], collector(HOST, '0.125.0', 'one'));
    expect((await hostop(['apply', dir])).code).toBe(0);
    const good = sh(HOST, 'cat /etc/otelcol-contrib/config.yaml');

    // A local override that removes ExecReload: `systemctl reload` is refused, as on a 0.123 unit.
    sh(
      HOST,
      'mkdir -p /etc/systemd/system/otelcol-contrib.service.d && printf "[Service]\\nExecReload=\\n" > /etc/systemd/system/otelcol-contrib.service.d/local.conf && systemctl daemon-reload',
    );
    writeDesiredState(dir, [HOST], collector(HOST, '0.125.0', 'two'));
    let apply = await hostop(['apply', dir]);
    expect(apply.code).toBe(1);
    expect(apply.stdout).toMatch(
      /rolled-back: otelcol-contrib\.service: systemctl reload exited \d+ \(.*not applicable/,
    );
    expect(sh(HOST, 'cat /etc/otelcol-contrib/config.yaml')).toBe(good);
    expect(liveAndOnDisk(HOST)[0]).toBe(liveAndOnDisk(HOST)[1]);

    // An ExecReload that signals nothing: systemd says it worked, the collector still runs the old config.
    sh(
      HOST,
      'printf "[Service]\\nExecReload=\\nExecReload=/bin/true\\n" > /etc/systemd/system/otelcol-contrib.service.d/local.conf && systemctl daemon-reload',
    );
    apply = await hostop(['apply', dir]);
    expect(apply.code).toBe(1);
    expect(apply.stdout).toContain('rolled-back: otelcol-contrib.service: the reload did not take effect');
    expect(apply.stdout).toContain('so the old config is still running');
    expect(sh(HOST, 'cat /etc/otelcol-contrib/config.yaml')).toBe(good);
    const [live, onDisk] = liveAndOnDisk(HOST);
    expect(live).toBe(onDisk);
    sh(HOST, 'rm -rf /etc/systemd/system/otelcol-contrib.service.d && systemctl daemon-reload');
  }, 120_000);
});

describe('Tempo 3 (stand-in package 3.0.0)', () => {
  const HOST = 'lab-38';
  const tempo = (version: string) => `
apiVersion: hostop.dev/v1alpha1
kind: Tempo
metadata: { name: tempo }
spec:
  hosts: [${HOST}]
  version: "${version}"
`;

  it('gets the 3.x shape and runs it; a 2.x declaration is held; a 2.x config is refused at start and rolled back', async () => {
    sh(
      HOST,
      'rm -rf /var/lib/hostop && dpkg -i /var/cache/hostop-lab/tempo_3.0.0_all.deb >/dev/null && ' +
        "printf 'server:\\n  http_listen_port: 3200\\n' > /etc/tempo/config.yml && systemctl restart tempo",
    );
    const dir = desiredState([HOST], tempo('2.8.1'));
    const held = await hostop(['plan', dir]);
    expect(held.stdout).toContain('Tempo/tempo: held (VersionMismatch): tempo 3.0.0 is installed on lab-38');
    writeDesiredState(dir, [HOST], tempo('3.0.0'));
    const apply = await hostop(['apply', dir]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(sh(HOST, 'cat /etc/tempo/config.yml')).not.toMatch(/^(ingester|compactor):/m);
    expect(sh(HOST, 'curl -fs 127.0.0.1:3200/ready')).toBe('ready\n');

    // The same host handed a 2.x config (a File resource, as someone might): Tempo 3 exits at start.
    const twoX = `
apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: tempo-2x }
spec:
  hosts: [${HOST}]
  path: /etc/tempo/config.yml
  content: "server: { http_listen_port: 3200 }\\ncompactor: { compaction: { block_retention: 168h } }\\n"
  notify: [tempo.service]
---
apiVersion: hostop.dev/v1alpha1
kind: Service
metadata: { name: tempo }
spec:
  hosts: [${HOST}]
  unit: tempo.service
  onChange: restart
  health: { http: { url: "http://127.0.0.1:3200/ready", expectStatus: 200 }, timeoutSeconds: 5 }
`;
    const bad = await hostop(['apply', desiredState([HOST], twoX)]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('rolled-back');
    expect(sh(HOST, 'cat /etc/tempo/config.yml')).not.toContain('compactor');
    expect(sh(HOST, 'journalctl -u tempo --no-pager')).toContain(
      'field compactor not found in type app.Config',
    );
    sh(HOST, 'dpkg -i /var/cache/hostop-lab/tempo_2.8.1_all.deb >/dev/null && systemctl restart tempo');
  }, 120_000);
});

describe('versions are observed, not only declared', () => {
  const HOST = 'lab-39';

  it('a declared version other than the installed one is VersionMismatch in plan and apply; nothing is written', async () => {
    installCollector(HOST, '0.123.0');
    const before = sh(HOST, 'sha256sum /etc/otelcol-contrib/config.yaml');
    const dir = desiredState([HOST], collector(HOST, '0.144.0', 'one'));
    const plan = await hostop(['plan', dir]);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain(
      'OtelCollector/collector: held (VersionMismatch): otelcol-contrib 0.123.0 is installed on lab-39 but the resource declares 0.144.0',
    );
    const apply = await hostop(['apply', dir]);
    expect(apply.code).toBe(1);
    expect(apply.stdout).toContain('held (VersionMismatch)');
    expect(sh(HOST, 'sha256sum /etc/otelcol-contrib/config.yaml')).toBe(before);
  });

  it('the daemon reports it in /status and hostop status, and picks up the upgrade that fixes it', async () => {
    installCollector(HOST, '0.123.0');
    const dir = desiredState([HOST], collector(HOST, '0.125.0', 'one'));
    const daemon = await startDaemon(dir, ['--resync', '2s']);
    try {
      type Status = {
        resources: {
          host: string;
          name: string;
          conditions: { type: string; status: string; reason: string; message: string }[];
        }[];
        events: { reason: string; message: string }[];
      };
      const stalled = async () => {
        const s = (await (await fetch(`${daemon.url}/status`)).json()) as Status;
        const r = s.resources.find((x) => x.host === HOST && x.name === 'collector');
        return r?.conditions.find(
          (c) => c.type === 'Stalled' && c.status === 'True' && c.reason === 'VersionMismatch',
        );
      };
      const cond = await waitFor('Stalled VersionMismatch in /status', stalled, 30_000);
      expect(cond!.message).toContain(
        'otelcol-contrib 0.123.0 is installed on lab-39 but the resource declares 0.125.0',
      );
      const r = await hostop(['status', '--url', daemon.url]);
      expect(r.stdout).toContain('VersionMismatch');
      // The fix is an upgrade on the host: dpkg's database changes, the next resync reads the new version.
      sh(HOST, 'dpkg -i /var/cache/hostop-lab/otelcol-contrib_0.125.0_all.deb >/dev/null');
      await waitFor(
        'the collector converged after the upgrade',
        async () => {
          const s = (await (await fetch(`${daemon.url}/status`)).json()) as Status;
          const res = s.resources.find((x) => x.host === HOST && x.name === 'collector');
          return res?.conditions.some((c) => c.type === 'Ready' && c.status === 'True');
        },
        60_000,
      );
      expect(sh(HOST, 'cat /etc/otelcol-contrib/config.yaml')).toContain('value: one');
    } finally {
      await daemon.stop();
    }
  }, 120_000);
});

describe('Claude Code reads the drop-in only from 2.1.83', () => {
  const HOST = 'lab-39';
  /** A claude as npm's global install leaves it, reporting this version. */
  const installClaude = (version: string) =>
    sh(
      HOST,
      `printf '#!/bin/sh\\necho "${version} (Claude Code)"\\n' > /usr/local/bin/claude.new && chmod 755 /usr/local/bin/claude.new && mv -f /usr/local/bin/claude.new /usr/local/bin/claude`,
    );
  const settings = `
apiVersion: hostop.dev/v1alpha1
kind: ClaudeCodeSettings
metadata: { name: agents }
spec:
  hosts: [${HOST}]
  collector: { host: ${HOST}, protocol: grpc }
`;

  it('an older claude holds the resource (nothing written); after the upgrade it converges', async () => {
    sh(HOST, 'rm -rf /var/lib/hostop /etc/claude-code/managed-settings.d/10-telemetry.json');
    installClaude('2.1.50');
    const dir = desiredState([HOST], settings);
    const plan = await hostop(['plan', dir]);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain(
      'ClaudeCodeSettings/agents: held (VersionMismatch): claude 2.1.50 is installed on lab-39 but the resource declares 2.1.83 or newer',
    );
    expect((await hostop(['apply', dir])).code).toBe(1);
    expect(sh(HOST, 'ls /etc/claude-code/managed-settings.d/')).not.toContain('10-telemetry.json');
    installClaude('2.1.90');
    const apply = await hostop(['apply', dir]);
    expect(apply.code, apply.stdout).toBe(0);
    expect(sh(HOST, 'cat /etc/claude-code/managed-settings.d/10-telemetry.json')).toContain(
      'CLAUDE_CODE_ENABLE_TELEMETRY',
    );
  });
});

describe('the apps are instrumented through their own units and pools', () => {
  const HOST = 'lab-40';
  // The collector the apps send to (every signal they send needs its pipeline there).
  const resources = (pool: string) => `
apiVersion: hostop.dev/v1alpha1
kind: OtelCollector
metadata: { name: collector }
spec:
  hosts: [${HOST}]
  version: "0.123.0"
  traces: { tempoHost: ${HOST} }
---
apiVersion: hostop.dev/v1alpha1
kind: AppInstrumentation
metadata: { name: legacy-shop }
spec:
  hosts: [${HOST}]
  serviceName: legacy-shop
  environment: staging
  collector: { host: ${HOST}, protocol: http/protobuf }
  signals: { traces: true }
  phpFpm:
    version: "8.2"
    pool: ${pool}
    bootstrap: { autoload: /srv/legacy-shop/otel/vendor/autoload.php }
---
apiVersion: hostop.dev/v1alpha1
kind: AppInstrumentation
metadata: { name: orders-api }
spec:
  hosts: [${HOST}]
  serviceName: orders-api
  collector: { host: ${HOST}, protocol: grpc }
  signals: { traces: true, metrics: true }
  systemd:
    unit: orders-api.service
    execStart: [/opt/orders-api/venv/bin/uvicorn, orders_api.main:app, --host, 0.0.0.0, --port, "8001"]
  health: { http: { url: "http://127.0.0.1:8001/health" } }
---
apiVersion: hostop.dev/v1alpha1
kind: AppInstrumentation
metadata: { name: litellm }
spec:
  hosts: [${HOST}]
  sdk: litellm
  serviceName: litellm
  collector: { host: ${HOST}, protocol: grpc }
  systemd: { unit: litellm.service }
  health: { http: { url: "http://127.0.0.1:4000/health/liveliness" } }
`;
  /** A request through the legacy shop's own pool, with Debian's real php-fpm (cgi-fcgi from libfcgi-bin). */
  const request = () =>
    sh(
      HOST,
      'cd /srv/legacy-shop && SCRIPT_FILENAME=/srv/legacy-shop/index.php REQUEST_METHOD=GET ' +
        'cgi-fcgi -bind -connect /run/php/php8.2-fpm-legacy-shop.sock',
    );

  it("the shop's own pool gets every OTEL_* value, the bootstrap runs and, without the SDK, the request still succeeds", async () => {
    sh(
      HOST,
      'rm -rf /var/lib/hostop /etc/php/8.2/fpm/pool.d/00-hostop-* /etc/php/8.2/fpm/hostop && systemctl reload php8.2-fpm && ' +
        "printf 'model_list: []\\nlitellm_settings: {}\\n' > /etc/litellm/config.yaml",
    );
    installCollector(HOST, '0.123.0');
    const ownPool = sh(HOST, 'sha256sum /etc/php/8.2/fpm/pool.d/legacy-shop.conf');
    const dir = desiredState([HOST], resources('legacy-shop'));
    const apply = await hostop(['apply', dir]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    const rendered = sh(HOST, 'cat /etc/php/8.2/fpm/pool.d/00-hostop-legacy-shop.conf');
    const wanted = Object.fromEntries(
      [...rendered.matchAll(/^env\[(\w+)\] = "(.*)"$/gm)].map((m) => [m[1]!, m[2]!]),
    );
    expect(Object.keys(wanted).length).toBeGreaterThanOrEqual(8);
    const res = request();
    // php-fpm sends a Status header only for a non-200 answer.
    expect(res).not.toMatch(/^Status:/m);
    const body = JSON.parse(res.slice(res.indexOf('\r\n\r\n') + 4)) as {
      otel: Record<string, string>;
      bootstrap: string | null;
      extension: boolean;
    };
    expect(body.otel).toEqual(wanted);
    expect(body.bootstrap).toBe('no-extension');
    expect(sh(HOST, 'sha256sum /etc/php/8.2/fpm/pool.d/legacy-shop.conf')).toBe(ownPool);
  });

  it('a pool the application does not define is refused by php-fpm -t before anything is activated', async () => {
    const dir = desiredState([HOST], resources('no-such-pool'));
    const apply = await hostop(['apply', dir]);
    expect(apply.code).toBe(1);
    expect(apply.stdout).toContain('validation-failed');
    // Real php-fpm: a section that names no existing pool starts a pool of its own, which has no user.
    expect(apply.stdout).toMatch(/\[pool no-such-pool\] user has not been defined/);
    expect(sh(HOST, 'ls /etc/php/8.2/fpm/pool.d/')).not.toContain('no-such-pool');
    // The resource's previous file is not pruned while its new one failed: the shop keeps its instrumentation.
    expect(sh(HOST, 'ls /etc/php/8.2/fpm/pool.d/')).toContain('00-hostop-legacy-shop.conf');
    expect(sh(HOST, 'systemctl is-active php8.2-fpm').trim()).toBe('active');
  });

  it("the LiteLLM proxy's own config gets the otel callback, the rest of it stays, and the proxy runs with it", async () => {
    const config = sh(HOST, 'cat /etc/litellm/config.yaml');
    expect(config).toMatch(/^model_list: \[\]$/m);
    expect(config).toContain('callbacks: [ otel ]');
    const env = JSON.parse(sh(HOST, 'curl -fs 127.0.0.1:4000/env')) as {
      environ: Record<string, string>;
      config: { litellm_settings: { callbacks: string[] } };
    };
    expect(env.config.litellm_settings.callbacks).toEqual(['otel']);
    expect(env.environ.OTEL_EXPORTER).toBe('otlp_grpc');
    // Someone else's edit to another key of the file is theirs: no drift for hostop.
    sh(HOST, "sed -i 's/^model_list: \\[\\]$/model_list: [{ model_name: m }]/' /etc/litellm/config.yaml");
    const plan = await hostop(['plan', desiredState([HOST], resources('legacy-shop')), '--hosts', HOST]);
    expect(plan.stdout).not.toContain('/etc/litellm/config.yaml');
  });

  it('the FastAPI unit runs its real command under opentelemetry-instrument, with the OTEL_* environment', () => {
    const env = JSON.parse(sh(HOST, 'curl -fs 127.0.0.1:8001/env')) as { environ: Record<string, string> };
    expect(env.environ.PYTHONPATH).toBe(
      '/opt/orders-api/venv/lib/python3.11/site-packages/opentelemetry/instrumentation/auto_instrumentation',
    );
    expect(env.environ.OTEL_SERVICE_NAME).toBe('orders-api');
    expect(env.environ.OTEL_TRACES_EXPORTER).toBe('otlp');
    // The unit file is still the package's: only the drop-in changed ExecStart.
    expect(sh(HOST, 'grep ^ExecStart= /etc/systemd/system/orders-api.service')).toContain(
      '/opt/orders-api/venv/bin/uvicorn',
    );
  });
});
