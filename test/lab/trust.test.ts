import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { metric, startDaemon, waitFor } from '../support/daemon.js';
import { HOSTOP_BIN, desiredState, hostop, startHostop, writeDesiredState } from '../support/fleet.js';
import { LAB_DIR, labHost, labSsh } from '../support/lab.js';

// Trust boundaries against real lab hosts (lab-27, lab-28 belong to this file): pinned host keys, key-only auth
// without agent, secrets kept out of every output, loopback-only and token-protected HTTP, private state.
const sh = (host: string, cmd: string) => labSsh(host, cmd).toString('utf8');
const tag = () => randomBytes(6).toString('hex');

describe('a host presenting another key than the pinned one', () => {
  it('is refused with an error that says so, an event and hostop_host_key_mismatch = 1; nothing is written', async () => {
    sh('lab-27', 'rm -f /etc/hostop-trust-mitm');
    // lab-27 at its real address, but pinned to lab-28's key: what a man in the middle (or a reinstall) looks like.
    const impostor = { ...labHost('lab-27'), hostKey: labHost('lab-28').hostKey };
    const ds = desiredState(
      [impostor],
      `apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: mitm }
spec: { hosts: [lab-27], path: /etc/hostop-trust-mitm, content: "x" }
`,
    );
    const apply = await hostop(['apply', ds]);
    expect(apply.code).toBe(1);
    expect(apply.stdout).toMatch(
      /host lab-27: unreachable: HostKeyMismatch: host lab-27 \(10\.77\.0\.37:22\) presented host key SHA256:\S+ but SHA256:\S+ is pinned; refusing to connect/,
    );
    expect(sh('lab-27', 'ls /etc/hostop-trust-mitm 2>&1 || true')).toMatch(/No such file/);

    const d = await startDaemon(ds, ['--resync', '60s']);
    try {
      await waitFor(
        'mismatch metric',
        async () => (await metric(d.url, 'hostop_host_key_mismatch', { host: 'lab-27' })) === 1,
        30_000,
      );
      expect(await metric(d.url, 'hostop_host_up', { host: 'lab-27' })).toBe(0);
      const status = (await (await fetch(`${d.url}/status`)).json()) as {
        events: { reason: string; host?: string; message: string }[];
      };
      const event = status.events.find((e) => e.reason === 'HostKeyMismatch' && e.host === 'lab-27');
      expect(event?.message).toMatch(/presented host key .* is pinned; refusing to connect/);
    } finally {
      expect(await d.stop()).toBe(0);
    }
    expect(sh('lab-27', 'ls /etc/hostop-trust-mitm 2>&1 || true')).toMatch(/No such file/);
  });
});

describe('authentication: a key, never a password, never the agent', () => {
  const HOST = 'lab-28';
  const PORT = 2222;
  const LOG = '/run/hostop-trust-sshd.log';

  it('against an sshd that offers password and keyboard-interactive and allows agent forwarding', async () => {
    // A second sshd on the host, as permissive as sshd gets, logging every request it sees.
    sh(
      HOST,
      `pkill -F /run/hostop-trust-sshd.pid 2>/dev/null; rm -f ${LOG}; /usr/sbin/sshd -p ${PORT} -o PidFile=/run/hostop-trust-sshd.pid ` +
        '-o PasswordAuthentication=yes -o KbdInteractiveAuthentication=yes -o AllowAgentForwarding=yes ' +
        `-o PermitRootLogin=yes -o LogLevel=DEBUG1 -E ${LOG}`,
    );
    // An ssh-agent holding the authorized lab key, announced to hostop the usual way (SSH_AUTH_SOCK).
    const agentDir = mkdtempSync(join(tmpdir(), 'hostop-agent-'));
    const sock = join(agentDir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      execFileSync('sh', ['-c', `for i in $(seq 50); do [ -S ${sock} ] && break; sleep 0.1; done`]);
      execFileSync('ssh-add', [join(LAB_DIR, 'id_ed25519')], {
        env: { ...process.env, SSH_AUTH_SOCK: sock },
        stdio: 'ignore',
      });
      const unauthorized = join(agentDir, 'id_other');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', unauthorized]);
      const host = { ...labHost(HOST), port: PORT };
      const file = `apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: auth }
spec: { hosts: [${HOST}], path: /etc/hostop-trust-auth, content: "x" }
`;
      const env = { ...process.env, SSH_AUTH_SOCK: sock };
      // With a key the host does not know, hostop fails: it does not fall back to the agent's key or a password.
      const refused = await run(['plan', desiredState([{ ...host, identityFile: unauthorized }], file)], env);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toMatch(
        /AuthFailed: host lab-28 \(10\.77\.0\.38:2222\): key authentication refused/,
      );
      // With its own key it works, and asks for no agent forwarding.
      const ok = await run(['plan', desiredState([host], file)], env);
      expect(ok.code, ok.stdout).toBe(2);
      const log = sh(HOST, `cat ${LOG}`);
      expect(log).toMatch(/userauth-request for user root service ssh-connection method publickey/);
      expect(log).not.toMatch(/method (password|keyboard-interactive)/);
      expect(log).toMatch(/session_input_channel_req: session \d+ req exec/);
      expect(log).not.toMatch(/auth-agent-req/);
    } finally {
      agent.kill();
      sh(HOST, 'pkill -F /run/hostop-trust-sshd.pid || true');
    }
  });
});

/** The CLI with a chosen environment (support's hostop() passes the test's own). */
function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, [HOSTOP_BIN, ...args], { env: { ...env, NO_COLOR: '1' } });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout })));
}

describe('secrets', () => {
  const MON = 'lab-27';
  const APP = 'lab-28';
  const resources = (s: { pw: string; json: string; header: string; file: string }) => `
apiVersion: hostop.dev/v1alpha1
kind: GrafanaDatasource
metadata: { name: secret-ds }
spec:
  hosts: [${MON}]
  datasources:
    - name: Prometheus
      type: prometheus
      uid: prometheus
      endpoint: { host: ${MON}, port: 9090 }
      basicAuth: { user: admin, password: ${JSON.stringify(s.pw)} }
      secureJsonData: { httpHeaderValue1: ${JSON.stringify(s.json)} }
---
apiVersion: hostop.dev/v1alpha1
kind: AppInstrumentation
metadata: { name: secret-app }
spec:
  hosts: [${APP}]
  serviceName: orders-api
  collector: { host: ${MON}, protocol: grpc }
  signals: { traces: true, metrics: false, logs: false }
  headers: { Authorization: ${JSON.stringify(`Bearer ${s.header}`)}, X-Api-Key: ${JSON.stringify(s.header)} }
  systemd: { unit: orders-api.service }
---
apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: secret-file }
spec:
  hosts: [${MON}]
  path: /etc/hostop-trust-secret
  content: ${JSON.stringify(s.file)}
  secret: true
  mode: "0600"
---
apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: secret-rejected }
spec:
  hosts: [${MON}]
  path: /etc/hostop-trust-secret-rejected
  content: ${JSON.stringify(s.file)}
  secret: true
  validate: { argv: [/bin/sh, -c, 'echo "rejected: $(cat "$1")"; exit 1', sh, "{}"] }
`;
  const secrets = () => ({
    pw: `pw-${tag()}`,
    json: `json-${tag()}`,
    header: `hdr-${tag()}`,
    file: `file-${tag()}`,
  });

  it('never appear in plan or apply output, logs, /status, /metrics, status.json or hostop status', async () => {
    sh(MON, 'rm -rf /var/lib/hostop /etc/hostop-trust-secret*');
    sh(APP, 'rm -rf /var/lib/hostop');
    const first = secrets();
    const second = secrets();
    const all = [...Object.values(first), ...Object.values(second)];
    const ds = desiredState([MON, APP], resources(first));
    const outputs: [string, string][] = [];
    const keep = (what: string, r: { stdout: string; stderr: string }) =>
      outputs.push([what, r.stdout + r.stderr]);

    keep('plan (creates)', await hostop(['plan', ds]));
    keep('plan -o json', await hostop(['plan', ds, '-o', 'json']));
    keep('apply (creates, one validator printing the secret)', await hostop(['apply', ds]));
    // The secrets really are on the hosts: the checks below would otherwise prove nothing.
    expect(sh(MON, 'cat /etc/hostop-trust-secret')).toBe(first.file);
    expect(sh(MON, 'cat /etc/grafana/provisioning/datasources/*')).toContain(first.pw);
    expect(sh(APP, 'cat /etc/systemd/system/orders-api.service.d/*')).toContain(first.header);

    writeDesiredState(ds, [MON, APP], resources(second));
    keep('plan (old and new secrets in one diff)', await hostop(['plan', ds]));
    const stateDir = join(mkdtempSync(join(tmpdir(), 'hostop-trust-')), 'state');
    const d = await startDaemon(ds, ['--resync', '60s', '--log-level', 'debug'], stateDir);
    try {
      await waitFor('ready', async () => (await fetch(`${d.url}/readyz`)).status === 200, 120_000);
      expect(sh(MON, 'cat /etc/hostop-trust-secret')).toBe(second.file);
      outputs.push(['/status', await (await fetch(`${d.url}/status`)).text()]);
      outputs.push(['/metrics', await (await fetch(`${d.url}/metrics`)).text()]);
      keep('hostop status', await hostop(['status', '--url', d.url, '--events', '100']));
      keep('hostop status -o json', await hostop(['status', '--url', d.url, '-o', 'json']));
    } finally {
      expect(await d.stop()).toBe(0);
    }
    outputs.push(['daemon log', d.logs.map((l) => JSON.stringify(l)).join('\n')]);
    outputs.push(['status.json', readFileSync(join(stateDir, 'status.json'), 'utf8')]);
    // The outputs did talk about the secret-carrying resources (masked), so the search below is meaningful.
    expect(outputs.find(([w]) => w.startsWith('apply'))![1]).toMatch(/secret-rejected.*validation-failed/);
    expect(outputs.find(([w]) => w === 'daemon log')![1]).toContain('secret-rejected');
    for (const [what, text] of outputs) {
      for (const s of all) expect(text.includes(s), `${what} shows ${s}`).toBe(false);
    }
  });
});

describe('HTTP endpoints', () => {
  it('listen on loopback by default, unreachable from the hosts', async () => {
    const dir = desiredState(
      ['lab-27'],
      `apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: http }
spec: { hosts: [lab-27], path: /etc/hostop-trust-http, content: "x" }
`,
    );
    const stateDir = mkdtempSync(join(tmpdir(), 'hostop-state-'));
    const proc = startHostop(['run', dir, '--state-dir', stateDir, '--resync', '60s']);
    try {
      const listen = await new Promise<string>((resolve, reject) => {
        let buf = '';
        proc.on('exit', (code) => reject(new Error(`daemon exited ${code}`)));
        proc.stdout!.on('data', (b: Buffer) => {
          buf += b.toString();
          const m =
            /"listen":"([^"]+)".*"msg":"hostop running"|"msg":"hostop running".*"listen":"([^"]+)"/.exec(buf);
          if (m) resolve(m[1] ?? m[2]!);
        });
      });
      expect(listen).toBe('127.0.0.1:9464');
      expect((await fetch('http://127.0.0.1:9464/healthz')).status).toBe(200);
      // From a host on the lab network the machine's bridge address has nothing on 9464.
      const probe = `python3 -c "import socket; s=socket.socket(); s.settimeout(3); print(s.connect_ex(('10.77.0.1', 9464)))"`;
      expect(sh('lab-27', probe).trim()).not.toBe('0');
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  });

  it('can require a bearer token for /metrics and /status (not the probes /healthz and /readyz)', async () => {
    const token = `tok-${tag()}`;
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'hostop-token-')), 'token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const dir = desiredState(
      ['lab-27'],
      `apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: http }
spec: { hosts: [lab-27], path: /etc/hostop-trust-http, content: "x" }
`,
    );
    const d = await startDaemon(dir, ['--resync', '60s', '--http-token-file', tokenFile]);
    try {
      const get = (path: string, auth?: string) =>
        fetch(`${d.url}${path}`, auth ? { headers: { Authorization: auth } } : {}).then((r) => r.status);
      expect(await get('/healthz')).toBe(200);
      expect(await waitFor('ready', async () => (await get('/readyz')) === 200, 60_000)).toBe(true);
      for (const path of ['/metrics', '/status']) {
        expect(await get(path)).toBe(401);
        expect(await get(path, 'Bearer wrong')).toBe(401);
        expect(await get(path, `Basic ${token}`)).toBe(401);
      }
      expect(await get('/metrics', `Bearer ${token}`)).toBe(200);
      expect(await get('/status', `Bearer ${token}`)).toBe(200);
      expect(d.logs.map((l) => JSON.stringify(l)).join('\n')).not.toContain(token);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});

describe('state on the hosts and on the daemon machine', () => {
  it('is not readable by other users: 0700 directories, 0600 inventory and status', async () => {
    const HOST = 'lab-27';
    sh(
      HOST,
      'rm -rf /var/lib/hostop; echo pre-hostop > /etc/hostop-trust-state; chmod 0644 /etc/hostop-trust-state',
    );
    const content = (v: string) => `apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: state }
spec: { hosts: [${HOST}], path: /etc/hostop-trust-state, content: "${v}\\n" }
`;
    const ds = desiredState([HOST], content('v1'));
    expect((await hostop(['apply', ds])).code).toBe(0);
    writeDesiredState(ds, [HOST], content('v2'));
    expect((await hostop(['apply', ds])).code).toBe(0); // now backup/ holds v1 and original/ the pre-hostop file
    const modes = sh(HOST, 'cd /var/lib/hostop && find . -printf "%y %m %p\\n" | sort -k3');
    for (const line of modes.trim().split('\n')) {
      const [type, mode, path] = line.split(' ');
      if (type === 'd') expect(mode, `${path}: ${modes}`).toBe('700');
      if (path === './managed.json') expect(mode).toBe('600');
    }
    expect(modes).toMatch(/^f \d+ \.\/backup\/[0-9a-f]{32}$/m);
    expect(modes).toMatch(/^f \d+ \.\/original\/[0-9a-f]{32}$/m);
    // Another user cannot read a backup, even of a file that is world-readable itself.
    expect(sh(HOST, 'runuser -u nobody -- cat /var/lib/hostop/backup/* 2>&1 || true')).toMatch(
      /Permission denied/,
    );
    expect(sh(HOST, 'runuser -u nobody -- ls /var/lib/hostop 2>&1 || true')).toMatch(/Permission denied/);

    // The daemon's own state directory, created by the daemon.
    const stateDir = join(mkdtempSync(join(tmpdir(), 'hostop-trust-')), 'nested', 'state');
    const d = await startDaemon(ds, ['--resync', '60s'], stateDir);
    try {
      await waitFor('ready', async () => (await fetch(`${d.url}/readyz`)).status === 200, 60_000);
      await waitFor('status persisted', () => {
        try {
          return statSync(join(stateDir, 'status.json')).isFile();
        } catch {
          return false;
        }
      });
    } finally {
      expect(await d.stop()).toBe(0);
    }
    expect((statSync(stateDir).mode & 0o777).toString(8)).toBe('700');
    expect((statSync(join(stateDir, 'status.json')).mode & 0o777).toString(8)).toBe('600');
  });
});
