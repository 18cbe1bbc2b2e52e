import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

// The lab itself (scripts/lab.sh): assumes `npm run lab -- up --hosts N` with N >= 3. Every check goes
// through OpenSSH's own client with the lab's ssh_config, or plain HTTP over the lab bridge.
const LAB = resolve(dirname(fileURLToPath(import.meta.url)), '../../.lab');
const SSH_CONFIG = join(LAB, 'ssh_config');
const HOSTS = ['lab-01', 'lab-02', 'lab-03'];

/** The stand-ins' health endpoints; each has a knob /etc/hostop-standin/UNIT.unhealthy. */
const STANDINS = [
  { unit: 'otelcol-contrib', port: 13133, path: '/' },
  { unit: 'tempo', port: 3200, path: '/ready' },
  { unit: 'grafana-server', port: 3000, path: '/api/health' },
  { unit: 'orders-api', port: 8001, path: '/health' },
  { unit: 'billing-api', port: 8002, path: '/health' },
  { unit: 'litellm', port: 4000, path: '/health/liveliness' },
];
const KNOBS = '/etc/hostop-standin';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** ssh to a lab host; never throws for a non-zero exit (the code is part of the result). */
function ssh(host: string, command: string, opts: { input?: string; extra?: string[] } = {}): Promise<Run> {
  return new Promise((done) => {
    const child = execFile(
      'ssh',
      ['-F', SSH_CONFIG, ...(opts.extra ?? []), host, command],
      { timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        done({ code, stdout: stdout.toString(), stderr: stderr.toString() });
      },
    );
    child.stdin?.end(opts.input ?? '');
  });
}

interface HostDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels: Record<string, string> };
  spec: { address: string; port: number; user: string; hostKey: string; identityFile: string };
}

let hosts: Map<string, HostDoc>;

async function status(host: string, port: number, path: string): Promise<number> {
  const res = await fetch(`http://${hosts.get(host)!.spec.address}:${port}${path}`, {
    signal: AbortSignal.timeout(10_000),
  });
  await res.arrayBuffer();
  return res.status;
}

beforeAll(() => {
  const file = join(LAB, 'hosts.yaml');
  if (!existsSync(file))
    throw new Error(`${file} is missing: bring the lab up first (npm run lab -- up --hosts 3)`);
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as HostDoc);
  hosts = new Map(docs.map((d) => [d.metadata.name, d]));
});

afterAll(async () => {
  await Promise.all(
    HOSTS.map((h) => ssh(h, `rm -f ${KNOBS}/*.unhealthy ${KNOBS}/otelcol-validate.hang /root/hostop-test-*`)),
  );
});

describe('hosts.yaml', () => {
  it('declares lab-01..03 as Host resources with addresses, pinned keys and the client key', () => {
    HOSTS.forEach((name, i) => {
      const h = hosts.get(name);
      expect(h, name).toBeDefined();
      expect(h!.apiVersion).toBe('hostop.dev/v1alpha1');
      expect(h!.kind).toBe('Host');
      expect(h!.metadata.labels.lab).toBe('true');
      expect(h!.spec).toMatchObject({ address: `10.77.0.${11 + i}`, port: 22, user: 'root' });
      expect(h!.spec.hostKey).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/=]+$/);
      expect(h!.spec.identityFile).toBe(join(LAB, 'id_ed25519'));
      expect(existsSync(h!.spec.identityFile)).toBe(true);
    });
    const keys = HOSTS.map((n) => hosts.get(n)!.spec.hostKey);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe.each(HOSTS)('%s', (host) => {
  it('answers ssh with the pinned host key, which is its real key', async () => {
    const run = await ssh(host, 'hostname; cut -d" " -f1,2 /etc/ssh/ssh_host_ed25519_key.pub');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.split('\n').slice(0, 2)).toEqual([host, hosts.get(host)!.spec.hostKey]);
  });

  it('refuses to connect when the pinned key is another host’s', async () => {
    const other = HOSTS.find((h) => h !== host)!;
    const dir = mkdtempSync(join(tmpdir(), 'hostop-lab-kh-'));
    const wrong = join(dir, 'known_hosts');
    const { address } = hosts.get(host)!.spec;
    writeFileSync(wrong, `${host},${address} ${hosts.get(other)!.spec.hostKey}\n`);
    try {
      const run = await ssh(host, 'true', { extra: ['-o', `UserKnownHostsFile=${wrong}`] });
      expect(run.code).toBe(255);
      expect(run.stderr).toMatch(/Host key verification failed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs systemd as PID 1, fully booted', async () => {
    const run = await ssh(host, 'cat /proc/1/comm; systemctl is-system-running');
    expect(run.stdout.split('\n').slice(0, 2)).toEqual(['systemd', 'running']);
  });

  it('lets deploy log in with the same key and gain root with sudo -n', async () => {
    const run = await ssh(host, 'id -un; sudo -n id -u', { extra: ['-l', 'deploy'] });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('deploy\n0\n');
    expect(run.stderr).toBe('');
  });

  it('runs Prometheus on loopback and ships promtool', async () => {
    const run = await ssh(
      host,
      'curl -s -o /dev/null -w "%{http_code}\\n" http://127.0.0.1:9090/-/ready; promtool --version >/dev/null && echo ok',
    );
    expect(run.stdout).toBe('200\nok\n');
  });

  it.each(STANDINS)('$unit: health 200, 503 while the unhealthy knob exists, 200 again', async (s) => {
    expect(await status(host, s.port, s.path)).toBe(200);
    await ssh(host, `touch ${KNOBS}/${s.unit}.unhealthy`);
    try {
      expect(await status(host, s.port, s.path)).toBe(503);
    } finally {
      await ssh(host, `rm -f ${KNOBS}/${s.unit}.unhealthy`);
    }
    expect(await status(host, s.port, s.path)).toBe(200);
  });

  it('validates collector configs: rejects one without service.pipelines, accepts the default', async () => {
    const bad = await ssh(
      host,
      'cat > /root/hostop-test-bad.yaml && otelcol-contrib validate --config=/root/hostop-test-bad.yaml',
      { input: 'receivers:\n  otlp: {}\nservice: {}\n' },
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/pipelines/);
    const good = await ssh(host, 'otelcol-contrib validate --config /etc/otelcol-contrib/config.yaml');
    expect(good).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});

describe('lab-01 only', () => {
  it('hangs the validator while otelcol-validate.hang exists', async () => {
    const run = await ssh(
      'lab-01',
      `touch ${KNOBS}/otelcol-validate.hang; timeout 2 otelcol-contrib validate --config=/etc/otelcol-contrib/config.yaml; echo $?; rm -f ${KNOBS}/otelcol-validate.hang`,
    );
    expect(run.stdout).toBe('124\n');
  });

  it('keeps each host’s filesystem to itself', async () => {
    const marker = `hostop-test-isolation-${process.pid}`;
    await ssh('lab-01', `echo ${marker} > /root/${marker} && echo changed >> /etc/motd`);
    const others = await Promise.all(
      ['lab-02', 'lab-03'].map((h) =>
        ssh(h, `test -e /root/${marker} && echo leaked; grep -c changed /etc/motd`),
      ),
    );
    for (const run of others) expect(run.stdout).toBe('0\n');
    const own = await ssh('lab-01', `cat /root/${marker}; sed -i '/^changed$/d' /etc/motd`);
    expect(own.stdout).toBe(`${marker}\n`);
  });
});

describe('lab-03 collector reload', () => {
  it('reloads a valid config in place on SIGHUP; a bad one ends the process; the 0.123 unit cannot reload', async () => {
    const conf = '/etc/otelcol-contrib/config.yaml';
    const pid = async () =>
      (await ssh('lab-03', 'systemctl show -p MainPID --value otelcol-contrib')).stdout.trim();
    const before = await pid();
    // The template's package is 0.123.0, whose unit has no ExecReload (collector-releases PR #887 came in 0.125.0).
    const refused = await ssh('lab-03', 'systemctl reload otelcol-contrib');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/not applicable/);
    // The program itself reloads on SIGHUP (collector PR #6000), whatever the unit says.
    await ssh('lab-03', 'systemctl kill --kill-who=main -s HUP otelcol-contrib');
    expect(await pid()).toBe(before);
    expect(await status('lab-03', 13133, '/')).toBe(200);
    await ssh('lab-03', `cp ${conf} /root/hostop-test-conf && echo 'service: {}' > ${conf}`);
    try {
      await ssh('lab-03', 'systemctl kill --kill-who=main -s HUP otelcol-contrib; sleep 1');
      const log = await ssh('lab-03', 'journalctl -u otelcol-contrib -n 20 --no-pager');
      expect(log.stdout).toMatch(/failed to reload config/);
      expect(await pid()).not.toBe(before);
    } finally {
      await ssh('lab-03', `cp /root/hostop-test-conf ${conf} && systemctl restart otelcol-contrib`);
    }
    await expect.poll(() => status('lab-03', 13133, '/').catch(() => 0), { timeout: 10_000 }).toBe(200);
  });
});
