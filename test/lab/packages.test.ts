import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, withDaemon } from '../support/daemon.js';
import { desiredState, fileResource, hostop, writeDesiredState } from '../support/fleet.js';
import { labSsh } from '../support/lab.js';

// `Package` on real Debian hosts with the real dpkg: a small package built here with dpkg-deb (a conffile that
// hostop also manages, a systemd unit, debhelper-like maintainer scripts) is installed, upgraded, downgraded and
// removed by plan/apply; a wrong sha256 and a failing preinst are refused; the daemon puts back a package
// changed by hand, and in detect mode only reports it. lab-09 and lab-10 are this file's while it runs
// (plan-apply.test.ts and saved-plan.test.ts use them too, one file at a time).
const PKG = 'hostop-demo';
const CONF = '/etc/hostop-demo/demo.conf';
const MANAGED = 'managed by hostop\nlisten = 127.0.0.1:7777\n';
const sh = (host: string, cmd: string) => labSsh(host, cmd).toString('utf8');
const installed = (host: string) =>
  sh(host, `dpkg-query -W -f '\${db:Status-Abbrev}\${Version}' ${PKG} 2>/dev/null || true`).trim();

/** Builds hostop-demo_VERSION_all.deb into `dir`/packages; returns its path relative to `dir` and its sha256. */
function buildDeb(dir: string, version: string, failPreinst = false): { path: string; sha256: string } {
  const root = mkdtempSync(join(tmpdir(), 'hostop-deb-'));
  const put = (path: string, text: string, mode = 0o644) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
    chmodSync(join(root, path), mode);
  };
  put(
    'DEBIAN/control',
    `Package: ${PKG}\nVersion: ${version}\nArchitecture: all\nMaintainer: hostop tests <tests@hostop.invalid>\n` +
      'Description: a package the lab test builds\n',
  );
  put('DEBIAN/conffiles', `${CONF}\n`);
  // What debhelper's dh_installsystemd adds: reload units after install, stop the service before removal.
  put('DEBIAN/postinst', '#!/bin/sh\nsystemctl daemon-reload >/dev/null 2>&1 || true\n', 0o755);
  put('DEBIAN/prerm', `#!/bin/sh\nsystemctl stop ${PKG}.service >/dev/null 2>&1 || true\n`, 0o755);
  if (failPreinst)
    put('DEBIAN/preinst', '#!/bin/sh\necho "preinst: this version refuses to install" >&2\nexit 1\n', 0o755);
  put(CONF.slice(1), `the package's default config of ${version}\n`);
  put(`usr/bin/${PKG}`, '#!/bin/sh\nexec sleep infinity\n', 0o755);
  put(
    `lib/systemd/system/${PKG}.service`,
    `[Service]\nExecStart=/usr/bin/${PKG}\n[Install]\nWantedBy=multi-user.target\n`,
  );
  const path = `packages/${PKG}_${version}_all.deb`;
  mkdirSync(join(dir, 'packages'), { recursive: true });
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, join(dir, path)], {
    stdio: 'pipe',
  });
  return {
    path,
    sha256: createHash('sha256')
      .update(readFileSync(join(dir, path)))
      .digest('hex'),
  };
}

/** `dpkg -i` run by a person, or unattended-upgrades: a changed conffile is kept, nothing asks. */
function upgradeByHand(host: string, deb: string): void {
  labSsh(
    host,
    'cat > /tmp/by-hand.deb && dpkg --force-confdef --force-confold -i /tmp/by-hand.deb >/dev/null',
    readFileSync(deb),
  );
}

function packageDoc(hosts: string[], spec: string): string {
  return `
apiVersion: hostop.dev/v1alpha1
kind: Package
metadata: { name: demo }
spec:
  hosts: [${hosts.join(', ')}]
  package: ${PKG}
${spec}`;
}

const fromDeb = (hosts: string[], version: string, deb: { path: string; sha256: string }) =>
  packageDoc(
    hosts,
    `  version: "${version}"\n  source:\n    deb:\n      path: ${deb.path}\n      sha256: ${deb.sha256}\n`,
  );

/** The package at a version, its config managed by hostop, its unit running. */
const demo = (hosts: string[], version: string, deb: { path: string; sha256: string }) =>
  [
    fromDeb(hosts, version, deb),
    fileResource('demo-conf', hosts, CONF, MANAGED),
    `
apiVersion: hostop.dev/v1alpha1
kind: Service
metadata: { name: demo }
spec:
  hosts: [${hosts.join(', ')}]
  unit: ${PKG}.service
  state: running
`,
  ].join('---\n');

function reset(host: string): void {
  sh(
    host,
    `dpkg --purge ${PKG} >/dev/null 2>&1; rm -rf /var/lib/hostop /etc/hostop-demo; systemctl daemon-reload`,
  );
}

describe('Package through plan and apply (lab-09)', () => {
  const HOSTS = ['lab-09'];
  const H = 'lab-09';
  const dir = desiredState(HOSTS, '');
  const debs: Record<string, { path: string; sha256: string }> = {};

  beforeAll(() => {
    reset(H);
    for (const v of ['1.0.0', '1.1.0']) debs[v] = buildDeb(dir, v);
    debs['1.2.0'] = buildDeb(dir, '1.2.0', true);
  });

  async function converge(version: string, expected: RegExp) {
    writeDesiredState(dir, HOSTS, demo(HOSTS, version, debs[version]!));
    const plan = await hostop(['plan', dir]);
    expect(plan.code, plan.stdout + plan.stderr).toBe(2);
    expect(plan.stdout).toMatch(expected);
    const apply = await hostop(['apply', dir]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(installed(H)).toBe(`ii ${version}`);
    expect(sh(H, `cat ${CONF}`)).toBe(MANAGED);
    expect(sh(H, `systemctl is-active ${PKG}.service || true`).trim()).toBe('active');
    const quiet = await hostop(['plan', dir]);
    expect(quiet.code, quiet.stdout + quiet.stderr).toBe(0);
  }

  it('installs from a .deb, then writes the managed conffile and starts the unit, in that order', async () => {
    await converge(
      '1.0.0',
      new RegExp(`\\+ install ${PKG} 1\\.0\\.0 \\(from packages/${PKG}_1\\.0\\.0_all\\.deb\\)`),
    );
  });

  it('upgrades and downgrades; the managed conffile survives each step byte for byte', async () => {
    await converge('1.1.0', /~ upgrade hostop-demo 1\.0\.0 → 1\.1\.0/);
    await converge('1.0.0', /! DOWNGRADE hostop-demo 1\.1\.0 → 1\.0\.0/);
    await converge('1.1.0', /~ upgrade hostop-demo 1\.0\.0 → 1\.1\.0/);
  });

  it('a wrong sha256 is refused by validate and plan, before any byte reaches the host', async () => {
    const before = sh(H, 'ls /var/lib/hostop/packages');
    const wrong = { ...debs['1.2.0']!, sha256: 'f'.repeat(64) };
    writeDesiredState(dir, HOSTS, demo(HOSTS, '1.2.0', wrong));
    for (const cmd of ['validate', 'apply']) {
      const r = await hostop([cmd, dir]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `Package/demo: packages/${PKG}_1.2.0_all.deb: sha256 is ${debs['1.2.0']!.sha256}`,
      );
    }
    expect(sh(H, 'ls /var/lib/hostop/packages')).toBe(before);
    expect(installed(H)).toBe('ii 1.1.0');
  });

  it('a failing preinst leaves the previous version, and the host’s other changes are held', async () => {
    writeDesiredState(
      dir,
      HOSTS,
      // The config for 1.2.0 must not be written for a 1.1.0 that stays.
      demo(HOSTS, '1.2.0', debs['1.2.0']!).replace(JSON.stringify(MANAGED), JSON.stringify('for 1.2.0\n')),
    );
    const apply = await hostop(['apply', dir, '-o', 'json']);
    expect(apply.code, apply.stderr).toBe(1);
    const host = (
      JSON.parse(apply.stdout) as {
        hosts: { resources: { kind: string; result: string; reason?: string; message?: string }[] }[];
      }
    ).hosts[0]!;
    const pkg = host.resources.find((r) => r.kind === 'Package')!;
    expect(pkg).toMatchObject({ result: 'failed', reason: 'InstallFailed' });
    expect(pkg.message).toContain('preinst: this version refuses to install');
    expect(host.resources.find((r) => r.kind === 'File')).toMatchObject({
      result: 'held',
      reason: 'PackageFailed',
    });
    expect(installed(H)).toBe('ii 1.1.0');
    expect(sh(H, `cat ${CONF}`)).toBe(MANAGED);
  });

  it('state: absent removes it; its config files stay (dpkg -r, not purge)', async () => {
    writeDesiredState(
      dir,
      HOSTS,
      [packageDoc(HOSTS, '  state: absent\n'), fileResource('demo-conf', HOSTS, CONF, MANAGED)].join('---\n'),
    );
    const plan = await hostop(['plan', dir]);
    expect(plan.stdout).toMatch(/- remove hostop-demo 1\.1\.0/);
    const apply = await hostop(['apply', dir]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(installed(H)).toMatch(/^rc /);
    expect(sh(H, `cat ${CONF}`)).toBe(MANAGED);
    expect((await hostop(['plan', dir])).code).toBe(0);
  });
});

describe('Package from a URL (lab-09): fetched by hostop from a loopback server, never the internet', () => {
  const HOSTS = ['lab-09'];
  const H = 'lab-09';
  const dir = desiredState(HOSTS, '');
  let deb: { path: string; sha256: string };
  let server: Server;
  let base: string;
  const served: string[] = [];

  beforeAll(async () => {
    reset(H);
    deb = buildDeb(dir, '1.0.0');
    // hostop plan/apply keep fetched .debs in $XDG_CACHE_HOME/hostop/packages: a fresh one for this test.
    process.env.XDG_CACHE_HOME = mkdtempSync(join(tmpdir(), 'hostop-cache-'));
    server = createServer((req, res) => {
      served.push(req.url ?? '');
      res.end(req.url === '/good.deb' ? readFileSync(join(dir, deb.path)) : 'not the package');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.close();
    Reflect.deleteProperty(process.env, 'XDG_CACHE_HOME');
  });

  const fromUrl = (url: string) =>
    packageDoc(
      HOSTS,
      `  version: "1.0.0"\n  source:\n    deb:\n      url: ${url}\n      sha256: ${deb.sha256}\n`,
    );

  it('other bytes at the URL: refused (IntegrityMismatch) before any byte reaches the host', async () => {
    writeDesiredState(dir, HOSTS, fromUrl(`${base}/bad.deb`));
    const apply = await hostop(['apply', dir, '-o', 'json']);
    expect(apply.code).toBe(1);
    const resources = (
      JSON.parse(apply.stdout) as {
        hosts: { resources: { kind: string; reason?: string; message?: string }[] }[];
      }
    ).hosts[0]!.resources;
    expect(resources).toMatchObject([{ kind: 'Package', reason: 'IntegrityMismatch' }]);
    expect(sh(H, 'ls /var/lib/hostop/packages 2>/dev/null || true')).toBe('');
    expect(installed(H)).toBe('');
  });

  it('the right bytes: fetched once, installed; a second apply fetches nothing', async () => {
    writeDesiredState(dir, HOSTS, fromUrl(`${base}/good.deb`));
    const apply = await hostop(['apply', dir]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(installed(H)).toBe('ii 1.0.0');
    expect(served.filter((u) => u === '/good.deb')).toHaveLength(1);
    sh(H, `dpkg -r ${PKG} >/dev/null`);
    const again = await hostop(['apply', dir]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(installed(H)).toBe('ii 1.0.0');
    expect(served.filter((u) => u === '/good.deb')).toHaveLength(1);
  });
});

describe('Package and the daemon (lab-10)', () => {
  const HOSTS = ['lab-10'];
  const H = 'lab-10';
  const dir = desiredState(HOSTS, '');
  let v1: { path: string; sha256: string };
  let v2: { path: string; sha256: string };

  beforeAll(() => {
    reset(H);
    v1 = buildDeb(dir, '1.0.0');
    v2 = buildDeb(dir, '1.1.0');
    writeDesiredState(dir, HOSTS, demo(HOSTS, '1.0.0', v1));
  });

  it('converges the package, and puts it back when it is upgraded by hand', async () => {
    await withDaemon(dir, ['--resync', '10m'], async (d) => {
      await waitFor('1.0.0 installed', () => installed(H) === 'ii 1.0.0', 60_000);
      await waitFor('ready', async () => (await fetch(`${d.url}/readyz`)).status === 200, 60_000);
      // By hand: the newer version, as an unattended upgrade would. dpkg's log from here on says what happened:
      // the daemon may already be downgrading when the hand's dpkg returns (its host watch is that fast), so
      // the installed state right after is no fixed thing to assert.
      const mark = Number(sh(H, 'wc -l < /var/log/dpkg.log').trim());
      upgradeByHand(H, join(dir, v2.path));
      // The host watch sees dpkg's status file change; the pass downgrades it back (resync is 10 minutes away).
      await waitFor('put back to 1.0.0', () => installed(H) === 'ii 1.0.0', 60_000);
      const installs = sh(H, `tail -n +${mark + 1} /var/log/dpkg.log`)
        .split('\n')
        .filter((l) => l.includes(` status installed ${PKG}:all `))
        .map((l) => l.split(' ').at(-1));
      expect(installs).toEqual(['1.1.0', '1.0.0']);
      expect(sh(H, `cat ${CONF}`)).toBe(MANAGED);
    });
  });

  it('in detect mode a package changed by hand is reported drifted, not touched', async () => {
    upgradeByHand(H, join(dir, v2.path));
    await withDaemon(dir, ['--mode', 'detect'], async (d) => {
      const drifted = await waitFor(
        'Package drifted',
        async () => {
          const s = (await (await fetch(`${d.url}/status`)).json()) as {
            resources: {
              kind: string;
              name: string;
              host: string;
              conditions: { type: string; status: string; message: string }[];
            }[];
          };
          const r = s.resources.find((x) => x.kind === 'Package' && x.host === H);
          return r?.conditions.find((c) => c.type === 'Drifted' && c.status === 'True');
        },
        60_000,
      );
      expect(drifted?.message).toContain('downgrade hostop-demo 1.1.0 → 1.0.0');
      expect(installed(H)).toBe('ii 1.1.0');
    });
  });
});

describe('a Package moves the collector to the version its config is rendered for (lab-09)', () => {
  const H = 'lab-09';
  const dir = desiredState([H], '');
  const lab = (v: string) => `/var/cache/hostop-lab/otelcol-contrib_${v}_all.deb`;

  beforeAll(() => {
    // The lab's stand-in at 0.123.0, as the template installs it, with its own config.
    sh(
      H,
      `rm -rf /var/lib/hostop && dpkg -i ${lab('0.123.0')} >/dev/null && ` +
        `dpkg-deb --fsys-tarfile ${lab('0.123.0')} | tar -xO ./etc/otelcol-contrib/config.yaml > /etc/otelcol-contrib/config.yaml && ` +
        'systemctl restart otelcol-contrib',
    );
    // The 0.144.0 release .deb, shipped in the desired-state directory.
    mkdirSync(join(dir, 'packages'), { recursive: true });
    writeFileSync(join(dir, 'packages/otelcol-contrib_0.144.0_all.deb'), labSsh(H, `cat ${lab('0.144.0')}`));
  });
  afterAll(() => {
    sh(H, `dpkg -i ${lab('0.123.0')} >/dev/null; rm -rf /var/lib/hostop`);
  });

  it('plan shows the upgrade and the config for 0.144.0; apply installs, writes what 0.144.0 validates, restarts', async () => {
    const sha256 = createHash('sha256')
      .update(readFileSync(join(dir, 'packages/otelcol-contrib_0.144.0_all.deb')))
      .digest('hex');
    writeDesiredState(
      dir,
      [H],
      `
apiVersion: hostop.dev/v1alpha1
kind: OtelCollector
metadata: { name: collector }
spec:
  hosts: [${H}]
  version: "0.144.0"
---
apiVersion: hostop.dev/v1alpha1
kind: Package
metadata: { name: otelcol-contrib }
spec:
  hosts: [${H}]
  package: otelcol-contrib
  version: "0.144.0"
  source: { deb: { path: packages/otelcol-contrib_0.144.0_all.deb, sha256: ${sha256} } }
`,
    );
    const plan = await hostop(['plan', dir]);
    expect(plan.code, plan.stdout + plan.stderr).toBe(2);
    expect(plan.stdout).toContain('~ upgrade otelcol-contrib 0.123.0 → 0.144.0');
    expect(plan.stdout).toContain('~ update /etc/otelcol-contrib/config.yaml [content]');
    expect(plan.stdout).not.toContain('VersionMismatch');

    const apply = await hostop(['apply', dir]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(sh(H, "dpkg-query -W -f '${Version}' otelcol-contrib")).toBe('0.144.0');
    // The config on disk is the one rendered for 0.144.0 (plan is quiet below), accepted by 0.144.0's own
    // validator, and running.
    expect(
      sh(H, '/usr/bin/otelcol-contrib validate --config=/etc/otelcol-contrib/config.yaml; echo rc=$?'),
    ).toContain('rc=0');
    expect(sh(H, 'systemctl is-active otelcol-contrib').trim()).toBe('active');
    expect((await hostop(['plan', dir])).code).toBe(0);
  });
});
