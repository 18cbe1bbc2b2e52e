import { describe, expect, it } from 'vitest';
import { desiredState, hostop, writeDesiredState } from '../support/fleet.js';
import { labHost, labSsh } from '../support/lab.js';

// Plan and apply through the real CLI against real lab hosts (lab-06 … lab-10 belong to this file).
const HOSTS = ['lab-06', 'lab-07', 'lab-08'];
const sh = (host: string, cmd: string) => labSsh(host, cmd).toString('utf8');

const collector = (hosts: string[], extra = '') => `
apiVersion: hostop.dev/v1alpha1
kind: OtelCollector
metadata: { name: collector }
spec:
  hosts: [${hosts.join(', ')}]
  version: "0.123.0"
${extra}`;

const motd = (hosts: string[], content: string) => `
apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: motd }
spec:
  hosts: [${hosts.join(', ')}]
  path: /etc/motd.d/hostop-test
  content: ${JSON.stringify(content)}
  mode: "0640"
`;

function mainPid(host: string, unit: string): string {
  return sh(host, `systemctl show -p MainPID --value ${unit}`).trim();
}

describe('hostop plan / apply against lab hosts', () => {
  const dir = desiredState(HOSTS, [collector(HOSTS), motd(HOSTS, 'managed by hostop\n')].join('---\n'));

  it('fresh hosts: plan shows creates (exit 2), apply converges (exit 0), plan is then clean (exit 0)', async () => {
    for (const h of HOSTS) sh(h, 'rm -rf /var/lib/hostop /etc/motd.d/hostop-test');
    const plan = await hostop(['plan', dir]);
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(2);
    for (const h of HOSTS) expect(plan.stdout).toContain(`host ${h}`);
    expect(plan.stdout).toContain('+ create /etc/motd.d/hostop-test');
    expect(plan.stdout).toMatch(/Plan: 3 host\(s\) to change, 0 unchanged, 0 unreachable/);

    const apply = await hostop(['apply', dir]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(/Apply: 3 host\(s\) converged/);
    for (const h of HOSTS) {
      expect(sh(h, 'cat /etc/motd.d/hostop-test')).toBe('managed by hostop\n');
      expect(sh(h, 'stat -c %a /etc/motd.d/hostop-test').trim()).toBe('640');
      expect(sh(h, 'systemctl is-active otelcol-contrib').trim()).toBe('active');
      expect(
        sh(h, '/usr/bin/otelcol-contrib validate --config=/etc/otelcol-contrib/config.yaml; echo rc=$?'),
      ).toContain('rc=0');
    }
    const again = await hostop(['plan', dir]);
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toMatch(/Plan: 0 host\(s\) to change, 3 unchanged/);
  });

  it('a file edited on a host: plan shows exactly that diff, apply restores it', async () => {
    sh('lab-07', "sed -i 's/managed by hostop/edited by hand/' /etc/motd.d/hostop-test");
    const plan = await hostop(['plan', dir]);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain('host lab-07');
    expect(plan.stdout).not.toContain('host lab-06');
    expect(plan.stdout).toContain('-edited by hand');
    expect(plan.stdout).toContain('+managed by hostop');
    const apply = await hostop(['apply', dir, '--hosts', 'lab-07']);
    expect(apply.code, apply.stdout).toBe(0);
    expect(sh('lab-07', 'cat /etc/motd.d/hostop-test')).toBe('managed by hostop\n');
  });

  it('key order alone in a structured file is no drift', async () => {
    // Rewrite the collector config with the same data in another key order: no change to plan.
    sh(
      'lab-06',
      `python3 -c "import yaml,sys; d=yaml.safe_load(open('/etc/otelcol-contrib/config.yaml')); open('/etc/otelcol-contrib/config.yaml','w').write(yaml.safe_dump(dict(reversed(list(d.items()))), sort_keys=False))"`,
    );
    const plan = await hostop(['plan', dir, '--hosts', 'lab-06']);
    expect(plan.code, plan.stdout).toBe(0);
  });

  it('a validator that rejects: old file kept, service untouched, error reported', async () => {
    const before = sh('lab-08', 'sha256sum /etc/otelcol-contrib/config.yaml');
    const pid = mainPid('lab-08', 'otelcol-contrib');
    // A File resource takes over the collector config with content the real validator rejects.
    const bad = desiredState(
      ['lab-08'],
      `
apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: broken-collector-config }
spec:
  hosts: [lab-08]
  path: /etc/otelcol-contrib/config.yaml
  content: "receivers: {}\\n"
  validate: { argv: [/usr/bin/otelcol-contrib, validate, "--config={}"], timeoutSeconds: 10 }
  notify: [otelcol-contrib.service]
`,
    );
    const apply = await hostop(['apply', bad]);
    expect(apply.code).toBe(1);
    expect(apply.stdout).toContain('validation-failed');
    expect(apply.stdout).toMatch(/service::pipelines/);
    expect(sh('lab-08', 'sha256sum /etc/otelcol-contrib/config.yaml')).toBe(before);
    expect(mainPid('lab-08', 'otelcol-contrib')).toBe(pid);
    expect(sh('lab-08', 'ls -a /etc/otelcol-contrib')).not.toContain('hostop-new');
  });

  it('a health check that fails after restart: rolled back, service healthy on the old config', async () => {
    const good = 'server: { http_listen_port: 3200 }\n';
    const resources = (content: string) => `
apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: tempo-config }
spec:
  hosts: [lab-09]
  path: /etc/tempo/config.yml
  content: ${JSON.stringify(content)}
  notify: [tempo.service]
---
apiVersion: hostop.dev/v1alpha1
kind: Service
metadata: { name: tempo }
spec:
  hosts: [lab-09]
  unit: tempo.service
  state: running
  enabled: true
  onChange: restart
  health: { http: { url: "http://127.0.0.1:3200/ready", expectStatus: 200 }, timeoutSeconds: 5 }
`;
    const ds = desiredState(['lab-09'], resources(good));
    expect((await hostop(['apply', ds])).code).toBe(0);
    writeDesiredState(ds, ['lab-09'], resources('no_server_block: true\n'));
    const apply = await hostop(['apply', ds]);
    expect(apply.code).toBe(1);
    expect(apply.stdout).toContain('rolled-back');
    expect(apply.stdout).toContain('tempo.service is healthy again');
    expect(sh('lab-09', 'cat /etc/tempo/config.yml')).toBe(good);
    expect(
      sh(
        'lab-09',
        'python3 -c "import urllib.request;print(urllib.request.urlopen(\'http://127.0.0.1:3200/ready\').status)"',
      ).trim(),
    ).toBe('200');
  });

  it('a removed resource: its file is pruned, a file hostop never managed is untouched', async () => {
    sh(
      'lab-10',
      'rm -rf /var/lib/hostop; mkdir -p /etc/motd.d; echo mine > /etc/motd.d/not-hostops; echo pre-existing > /etc/motd.d/hostop-test',
    );
    const ds = desiredState(['lab-10'], motd(['lab-10'], 'managed\n') + '---\n' + collector(['lab-10']));
    expect((await hostop(['apply', ds])).code).toBe(0);
    expect(sh('lab-10', 'cat /etc/motd.d/hostop-test')).toBe('managed\n');
    writeDesiredState(ds, ['lab-10'], collector(['lab-10']));
    const plan = await hostop(['plan', ds]);
    expect(plan.stdout).toContain('- restore /etc/motd.d/hostop-test to the version found before hostop');
    expect((await hostop(['apply', ds])).code).toBe(0);
    // It existed before hostop managed it: the original comes back rather than a hole.
    expect(sh('lab-10', 'cat /etc/motd.d/hostop-test')).toBe('pre-existing\n');
    expect(sh('lab-10', 'cat /etc/motd.d/not-hostops')).toBe('mine\n');
    expect((await hostop(['plan', ds])).code).toBe(0);
  });

  it('2 of 5 hosts unreachable: the other 3 converge, exit code and summary say so', async () => {
    const ghost = (name: string, last: number) => ({
      ...labHost('lab-06'),
      name,
      address: `10.77.0.${last}`,
    });
    const hosts = ['lab-06', 'lab-07', 'lab-08', ghost('ghost-1', 250), ghost('ghost-2', 251)];
    const names = ['lab-06', 'lab-07', 'lab-08', 'ghost-1', 'ghost-2'];
    const ds = desiredState(
      hosts,
      collector(['lab-06', 'lab-07', 'lab-08']) + '---\n' + motd(names, 'five\n'),
    );
    const apply = await hostop(['apply', ds, '--connect-timeout', '3s']);
    expect(apply.code).toBe(1);
    expect(apply.stdout).toMatch(
      /Apply: 3 host\(s\) converged, 0 already in sync, 0 failed or rolled back, 2 unreachable/,
    );
    expect(apply.stdout).toMatch(/host ghost-1.*unreachable/);
    for (const h of ['lab-06', 'lab-07', 'lab-08'])
      expect(sh(h, 'cat /etc/motd.d/hostop-test')).toBe('five\n');
  });
});
