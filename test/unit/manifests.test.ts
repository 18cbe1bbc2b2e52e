import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

// The packaging is checked where a real tool exists on the machine (systemd-analyze, the HEALTHCHECK's node
// one-liner, the YAML/JSON parsers); the Dockerfile is checked by reading it, since no Docker engine runs here.
const root = join(import.meta.dirname, '../..');
const manifests = join(root, 'manifests');
const scratch = mkdtempSync(join(tmpdir(), 'hostop-manifests-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are checked field by field below.
type K8sObject = Record<string, any>;
function yamlDocs(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as K8sObject);
}

describe('every manifest', () => {
  const files = walk(manifests).filter((f) => /\.(ya?ml|json)$/.test(f));

  it('includes the ones the issue asks for', () => {
    const names = files.map((f) => relative(manifests, f));
    for (const needed of [
      'prometheus/hostop-alerts.yml',
      'prometheus/hostop-alerts.test.yml',
      'prometheus/scrape-hostop.yml',
      'grafana/hostop.json',
      'grafana/claude-code-fleet.json',
      'kubernetes/kustomization.yaml',
      'kubernetes/deployment.yaml',
    ]) {
      expect(names).toContain(needed);
    }
  });

  it.each(files.map((f) => [relative(root, f), f]))('%s parses', (_, file) => {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.json')) {
      expect(() => JSON.parse(text)).not.toThrow();
      return;
    }
    const docs = parseAllDocuments(text);
    expect(docs.length).toBeGreaterThan(0);
    for (const d of docs) expect(d.errors.map((e) => e.message)).toEqual([]);
  });
});

describe('systemd unit', () => {
  const unitFile = join(manifests, 'systemd/hostop.service');
  const sections = new Map<string, Map<string, string[]>>();
  let current = '';
  for (const line of readFileSync(unitFile, 'utf8').split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      current = header[1]!;
      sections.set(current, new Map());
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (kv) {
      const section = sections.get(current)!;
      section.set(kv[1]!, [...(section.get(kv[1]!) ?? []), kv[2]!]);
    }
  }
  const service = (key: string) => sections.get('Service')?.get(key);

  it.each([
    ['User', 'hostop'],
    ['ExecStart', '/usr/bin/hostop run /etc/hostop/desired-state --state-dir /var/lib/hostop'],
    ['ExecReload', '/bin/kill -HUP $MAINPID'],
    ['Restart', 'on-failure'],
    ['StateDirectory', 'hostop'],
    ['StateDirectoryMode', '0700'],
    ['ProtectSystem', 'strict'],
    ['NoNewPrivileges', 'yes'],
    ['PrivateTmp', 'yes'],
    ['CapabilityBoundingSet', ''],
    ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
  ])('sets %s=%s', (key, value) => {
    expect(service(key)).toEqual([value]);
  });

  it('protects home directories and leaves the JIT alone', () => {
    expect(['yes', 'read-only', 'tmpfs']).toContain(service('ProtectHome')?.[0]);
    expect(service('MemoryDenyWriteExecute')).toBeUndefined();
    expect(sections.get('Install')?.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('ships the sysusers entry for its user', () => {
    const sysusers = readFileSync(join(manifests, 'systemd/hostop.sysusers.conf'), 'utf8');
    expect(sysusers).toMatch(/^u hostop - ".+" \/var\/lib\/hostop /m);
  });

  // A root with the distribution's units, the unit, and stand-ins for the two binaries it runs: verify
  // then checks every directive and reference without hostop being installed (PID 1 need not be systemd).
  function verifyRoot(): string {
    const dir = join(scratch, 'root');
    if (existsSync(dir)) return dir;
    mkdirSync(join(dir, 'usr/bin'), { recursive: true });
    mkdirSync(join(dir, 'etc/systemd/system'), { recursive: true });
    cpSync('/usr/lib/systemd/system', join(dir, 'usr/lib/systemd/system'), { recursive: true });
    symlinkSync('usr/bin', join(dir, 'bin'));
    for (const bin of ['hostop', 'kill']) {
      writeFileSync(join(dir, 'usr/bin', bin), '#!/bin/sh\n');
      chmodSync(join(dir, 'usr/bin', bin), 0o755);
    }
    cpSync(unitFile, join(dir, 'etc/systemd/system/hostop.service'));
    return dir;
  }
  function systemdAnalyze(args: string[]) {
    const run = spawnSync('systemd-analyze', [...args, `--root=${verifyRoot()}`, 'hostop.service'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if ((run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      throw new Error('systemd-analyze not found: install it with `apt-get install -y systemd` (Debian)');
    }
    return run;
  }

  it('passes systemd-analyze verify without a single warning', () => {
    const run = systemdAnalyze(['verify']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('rates as well hardened by systemd-analyze security', () => {
    const run = systemdAnalyze(['security', '--offline=yes', '--no-pager']);
    const exposure = /Overall exposure level for hostop\.service: ([\d.]+)/.exec(run.stdout)?.[1];
    expect(exposure, run.stdout + run.stderr).toBeDefined();
    // 0 is a fully locked-down unit, 10 an unprotected one; 2 and below is what systemd calls OK.
    expect(Number(exposure)).toBeLessThanOrEqual(2);
  });
});

describe('Dockerfile', () => {
  // Instructions with their line continuations joined and comments dropped.
  const instructions = readFileSync(join(root, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [op, ...rest] = l.trim().split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
  const stages: { from: string; body: typeof instructions }[] = [];
  for (const i of instructions) {
    if (i.op === 'FROM') stages.push({ from: i.args, body: [] });
    else stages.at(-1)?.body.push(i);
  }
  const args = Object.fromEntries(
    instructions.filter((i) => i.op === 'ARG').map((i) => i.args.split('=') as [string, string]),
  );
  const build = stages[0]!;
  const runtime = stages.at(-1)!;
  const runtimeOf = (op: string) => runtime.body.filter((i) => i.op === op).map((i) => i.args);

  it('builds in one stage and runs from another, on a slim Node LTS image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(args.NODE_IMAGE).toMatch(/^node:(20|22|24)(-bookworm)?-slim$/);
    const buildRuns = build.body
      .filter((i) => i.op === 'RUN')
      .map((i) => i.args)
      .join('\n');
    expect(buildRuns).toContain('npm ci');
    expect(buildRuns).toContain('npm run build');
    expect(buildRuns).toContain('npm prune --omit=dev');
    expect(runtimeOf('RUN').join('\n')).not.toMatch(/npm (ci|install)/);
    // Only production artefacts reach the runtime image: never sources, tests or dev tooling.
    const copied = runtimeOf('COPY').flatMap((c) => {
      const [from, ...paths] = c.split(' ');
      expect(from).toBe('--from=build');
      return paths.slice(0, -1).map((p) => p.split('/').at(-1));
    });
    expect(copied.sort()).toEqual([
      'bin',
      'crds',
      'dist',
      'node_modules',
      'package-lock.json',
      'package.json',
    ]);
  });

  it('runs as a non-root user', () => {
    const user = runtimeOf('USER').at(-1);
    expect(user).toBeDefined();
    expect(user!.split(':')[0]).not.toMatch(/^(root|0)$/);
  });

  it('exposes 9464, mounts desired state and SSH key, and listens beyond loopback', () => {
    expect(runtimeOf('EXPOSE')).toContain('9464');
    const volumes = runtimeOf('VOLUME').join(' ');
    expect(volumes).toContain('"/desired-state"');
    expect(volumes).toContain('"/etc/hostop/ssh"');
    const cmd = JSON.parse(runtimeOf('CMD').at(-1)!) as string[];
    expect(cmd.slice(0, 2)).toEqual(['run', '/desired-state']);
    expect(cmd.join(' ')).toContain('--listen 0.0.0.0:9464');
  });

  it('has a HEALTHCHECK whose node one-liner passes on 200 and fails on 503 or no answer', async () => {
    const healthcheck = runtimeOf('HEALTHCHECK').at(-1);
    expect(healthcheck).toBeDefined();
    const command = JSON.parse(healthcheck!.slice(healthcheck!.indexOf('CMD') + 3)) as string[];
    expect(command.slice(0, 2)).toEqual(['node', '-e']);
    expect(command[2]).toContain('http://127.0.0.1:9464/healthz');

    let status = 200;
    const server = createServer((req, res) => {
      res.statusCode = req.url === '/healthz' ? status : 404;
      res.end();
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as AddressInfo).port;
    // Asynchronous on purpose: the server answering it lives in this very event loop.
    const probe = () =>
      new Promise<number | null>((done) => {
        const script = command[2]!.replace('127.0.0.1:9464', `127.0.0.1:${port}`);
        spawn(process.execPath, ['-e', script], { stdio: 'ignore', timeout: 10_000 }).on('exit', (code) =>
          done(code),
        );
      });
    try {
      expect(await probe()).toBe(0);
      status = 503;
      expect(await probe()).toBe(1);
    } finally {
      await new Promise((done) => server.close(done));
    }
    expect(await probe()).toBe(1);
  }, 30_000);

  it('keeps sources of secrets and bulk out of the build context', () => {
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['.git', 'node_modules', 'dist', 'desired-state', 'test'])
      expect(ignored).toContain(entry);
  });
});

describe('Kubernetes manifests', () => {
  const dir = join(manifests, 'kubernetes');
  const kustomization = yamlDocs(join(dir, 'kustomization.yaml'))[0]!;
  const applied = (kustomization.resources as string[]).flatMap((r) => yamlDocs(join(dir, r)));
  const byKind = (kind: string) => applied.filter((o) => o.kind === kind);
  const deployment = byKind('Deployment')[0]!;
  const pod = deployment.spec.template.spec;
  const hostop = pod.containers.find((c: K8sObject) => c.name === 'hostop');

  it('kustomization lists existing files: Namespace, ServiceAccount, Deployment, Service, NetworkPolicy', () => {
    for (const r of kustomization.resources as string[]) expect(existsSync(join(dir, r)), r).toBe(true);
    expect(applied.map((o) => o.kind).sort()).toEqual([
      'Deployment',
      'Namespace',
      'NetworkPolicy',
      'Service',
      'ServiceAccount',
    ]);
    for (const o of applied) {
      expect(o.apiVersion).toBeTruthy();
      expect(o.metadata?.name).toBeTruthy();
    }
  });

  it('closes the port it opens on all addresses: a token from a Secret, and a NetworkPolicy', () => {
    const args: string[] = hostop.args;
    const tokenFile = args[args.indexOf('--http-token-file') + 1] ?? '';
    const mount = hostop.volumeMounts.find((m: K8sObject) => tokenFile.startsWith(`${m.mountPath}/`));
    const volume = pod.volumes.find((v: K8sObject) => v.name === mount.name);
    expect(volume.secret.secretName).toBe('hostop-http-token');
    expect(volume.secret.optional).toBeUndefined(); // no Secret, no pod: never served open
    // The template Secret is never applied: a placeholder must not become the token.
    expect(kustomization.resources).not.toContain('secret-http-token.example.yaml');
    const policy = byKind('NetworkPolicy')[0]!;
    expect(policy.spec.podSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.ingress.flatMap((r: K8sObject) => r.ports.map((p: K8sObject) => p.port))).toEqual([
      9464,
    ]);
  });

  it('runs exactly one hostop, never two during a rollout', () => {
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy.type).toBe('Recreate');
  });

  it('probes /healthz for liveness and /readyz for readiness (both open without the token) on the listening port', () => {
    expect(hostop.livenessProbe.httpGet.path).toBe('/healthz');
    expect(hostop.readinessProbe.httpGet.path).toBe('/readyz');
    expect(hostop.ports[0]).toMatchObject({ name: hostop.livenessProbe.httpGet.port, containerPort: 9464 });
    expect(hostop.args.join(' ')).toContain('--listen 0.0.0.0:9464');
  });

  it('runs every container non-root, read-only, without capabilities', () => {
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    // The same uid as the image's USER, so files in shared volumes agree.
    const user = /^USER (\d+)/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'))?.[1];
    expect(String(pod.securityContext.runAsUser)).toBe(user);
    expect(pod.automountServiceAccountToken).toBe(false);
    for (const c of [...pod.initContainers, ...pod.containers]) {
      expect(c.securityContext, c.name).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
    }
  });

  it('reads the desired state from the git-sync volume and the key from the hostop-ssh Secret', () => {
    const mounts = Object.fromEntries(hostop.volumeMounts.map((m: K8sObject) => [m.name, m]));
    expect(mounts.git).toMatchObject({ mountPath: '/git', readOnly: true });
    expect(hostop.args.slice(0, 2)).toEqual(['run', '/git/current/desired-state']);
    const gitSync = pod.containers.find((c: K8sObject) => c.name === 'git-sync');
    const env = Object.fromEntries(gitSync.env.map((e: K8sObject) => [e.name, e.value]));
    expect(env).toMatchObject({ GITSYNC_ROOT: '/git', GITSYNC_LINK: 'current' });
    expect(mounts['ssh-key']).toMatchObject({ mountPath: '/etc/hostop/ssh', readOnly: true });
    const keyVolume = pod.volumes.find((v: K8sObject) => v.name === 'ssh-key');
    const example = yamlDocs(join(dir, 'secret-ssh-key.example.yaml'))[0]!;
    expect(keyVolume.secret.secretName).toBe(example.metadata.name);
    expect(kustomization.resources).not.toContain('secret-ssh-key.example.yaml');
    expect(example.stringData.id_ed25519).toContain('REPLACE-WITH');
  });

  it('exposes the metrics port through a Service that selects the pod', () => {
    const service = byKind('Service')[0]!;
    expect(deployment.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    expect(service.spec.ports[0]).toMatchObject({ port: 9464, targetPort: 'metrics' });
  });
});
