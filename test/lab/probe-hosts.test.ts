import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostRef } from '../../src/core/model.js';
import { renderSnapshot } from '../../src/core/render.js';
import { type HostMemory, newHostMemory, reconcileHost } from '../../src/engine/reconcile-host.js';
import { kindByName } from '../../src/kinds/registry.js';
import { type ProbeCache, fetchFiles, probeHost } from '../../src/probe/probe-host.js';
import { loadDesiredState } from '../../src/source/load.js';
import { ConnectionPool } from '../../src/ssh/connection-pool.js';
import { desiredState, fileResource } from '../support/fleet.js';
import { labHost, labSsh } from '../support/lab.js';

// Hosts lab-01..05 get a directory of hostile names and contents (by plain ssh + tar); hostop's probe
// must report what `stat`/`sha256sum` run by OpenSSH's own client report, and execute nothing.
const DIR = '/tmp/hostop-test-probe';
const HOSTS = ['lab-01', 'lab-02', 'lab-03', 'lab-04', 'lab-05'];
const NAMES = [
  'plain.conf',
  'with space.yaml',
  "it's quoted",
  'new\nline',
  '$(touch hostop-test-canary)',
  '`touch hostop-test-canary`',
  '-leading-dash',
  'back\\slash',
  'grüße ☃.txt',
  'empty',
];
const EXTRA = ['sub dir', 'link', 'dangling', 'missing', 'missing dir/x'];
const paths = [DIR, ...NAMES, ...EXTRA].map((n) => (n === DIR ? DIR : `${DIR}/${n}`));
const units = ['ssh.service', 'hostop-test-nonexistent.service'];
const REQ = { timeoutMs: 30_000 };

const local = mkdtempSync(join(tmpdir(), 'hostop-lab-probe-'));
let pool: ConnectionPool;
let hosts: HostRef[];

/** The tree for one host: contents name the host, so a mix-up between hosts shows. */
function pushTree(host: string): void {
  const root = join(local, host);
  mkdirSync(join(root, 'sub dir'), { recursive: true });
  NAMES.forEach((n, i) =>
    writeFileSync(
      join(root, n),
      n === 'empty' ? '' : `${host} #${i}\n$(touch ${DIR}/CANARY)\n\`touch ${DIR}/CANARY\`\n'"\\\n`,
    ),
  );
  symlinkSync(`${DIR}/plain.conf`, join(root, 'link'));
  symlinkSync(`${DIR}/nowhere`, join(root, 'dangling'));
  execFileSync('chmod', ['4750', join(root, 'plain.conf')]);
  const tar = execFileSync('tar', ['-c', '-C', root, '.']);
  labSsh(host, `rm -rf ${DIR} && mkdir -p ${DIR} && tar -x -C ${DIR} && rm -f ~/hostop-test-canary`, tar);
}

/** What OpenSSH + find + sha256sum report, NUL-separated so no name needs quoting. */
function witness(host: string) {
  const listing = labSsh(
    host,
    `cd ${DIR} && find . -mindepth 1 -printf '%P\\0%y\\0%s\\0%m\\0%u\\0%g\\0'`,
  ).toString('utf8');
  const f = listing.split('\0');
  const out = new Map<
    string,
    { type: string; size: number; mode: string; owner: string; group: string; sha256?: string }
  >();
  for (let i = 0; i + 6 <= f.length; i += 6) {
    const type = { f: 'file', d: 'dir', l: 'symlink' }[f[i + 1] as string] ?? 'other';
    const mode = Number.parseInt(f[i + 3] as string, 8)
      .toString(8)
      .padStart(4, '0');
    out.set(`${DIR}/${f[i]}`, {
      type,
      size: Number(f[i + 2]),
      mode,
      owner: f[i + 4] as string,
      group: f[i + 5] as string,
    });
  }
  const sums = labSsh(host, `cd ${DIR} && find . -type f -print0 | xargs -0 sha256sum -z`)
    .toString('utf8')
    .split('\0');
  for (const line of sums.filter(Boolean)) {
    const entry = out.get(`${DIR}/${line.slice(66).replace(/^\.\//, '')}`);
    if (entry) entry.sha256 = line.slice(0, 64);
  }
  return out;
}

function canaryFired(host: string): boolean {
  return labSsh(host, `ls ${DIR}/CANARY ~/hostop-test-canary 2>/dev/null || true`).toString() !== '';
}

beforeAll(() => {
  pool = new ConnectionPool({ connectTimeoutMs: 10_000 });
  hosts = HOSTS.map(labHost);
  HOSTS.forEach(pushTree);
});
afterAll(() => {
  pool.closeAll();
  for (const h of HOSTS) labSsh(h, `rm -rf ${DIR}`);
  rmSync(local, { recursive: true, force: true });
});

describe('probe on real hosts', () => {
  it('reports what ssh + find + sha256sum report, on several hosts at once, executing nothing', async () => {
    const observed = await Promise.all(
      hosts.map(async (h) => probeHost(await pool.connection(h), { paths, units }, new Map(), REQ)),
    );
    for (const [i, host] of HOSTS.entries()) {
      const seen = observed[i];
      const truth = witness(host);
      expect(truth.size).toBe(NAMES.length + 3); // + sub dir, link, dangling
      expect(seen?.host).toBe(host);
      expect(seen?.facts).toEqual({ hostname: host, os: 'Debian GNU/Linux 12 (bookworm)', systemd: true });
      for (const p of paths) {
        const want = p === DIR ? undefined : truth.get(p);
        if (p === DIR) expect(seen?.files[p]?.type).toBe('dir');
        else if (!want) expect(seen?.files[p], p).toEqual({ path: p, type: 'missing' });
        else expect(seen?.files[p], p).toEqual({ path: p, ...want });
      }
      expect(seen?.files[`${DIR}/plain.conf`]?.mode).toBe('4750');
      expect(seen?.files[`${DIR}/dangling`]?.type).toBe('symlink');
      const active = labSsh(host, 'systemctl is-active ssh.service; systemctl is-enabled ssh.service')
        .toString()
        .split('\n');
      expect(seen?.units['ssh.service']).toEqual({
        unit: 'ssh.service',
        active: active[0],
        enabled: active[1],
        load: 'loaded',
      });
      expect(seen?.units['hostop-test-nonexistent.service']).toMatchObject({
        load: 'not-found',
        active: 'inactive',
      });
      expect(canaryFired(host)).toBe(false);
    }
  });

  it('a warm pass is one round trip on the open channel, hashes from the cache, and sees drift', async () => {
    const conn = await pool.connection(hosts[0] as HostRef);
    const cache: ProbeCache = new Map();
    const cold = await probeHost(conn, { paths, units }, cache, REQ);
    expect(cache.size).toBe(NAMES.length);
    const before = pool.counters('lab-01');
    const warm = await probeHost(conn, { paths, units }, cache, REQ);
    const after = pool.counters('lab-01');
    expect(warm).toEqual(cold);
    expect([after.requests - before.requests, after.channelsOpened - before.channelsOpened]).toEqual([1, 0]);

    labSsh('lab-01', `printf 'drifted\\n' > '${DIR}/with space.yaml'`);
    const drifted = await probeHost(conn, { paths, units }, cache, REQ);
    expect(drifted.files[`${DIR}/with space.yaml`]?.sha256).toBe(
      witness('lab-01').get(`${DIR}/with space.yaml`)?.sha256,
    );
    expect(drifted.files[`${DIR}/with space.yaml`]?.sha256).not.toBe(
      cold.files[`${DIR}/with space.yaml`]?.sha256,
    );
  });

  it('probes the same through `sudo -n sh` as user deploy', async () => {
    const deploy = {
      ...(hosts[1] as HostRef),
      name: 'lab-02-deploy',
      user: 'deploy',
      privilege: 'sudo' as const,
    };
    const asRoot = await probeHost(
      await pool.connection(hosts[1] as HostRef),
      { paths, units },
      new Map(),
      REQ,
    );
    const viaSudo = await probeHost(await pool.connection(deploy), { paths, units }, new Map(), REQ);
    expect(viaSudo.files).toEqual(asRoot.files);
    expect(viaSudo.units).toEqual(asRoot.units);
  });

  it('fetches contents byte for byte, bounded, executing nothing', async () => {
    const conn = await pool.connection(hosts[2] as HostRef);
    const want = NAMES.map((n) => `${DIR}/${n}`);
    const got = await fetchFiles(conn, [...want, `${DIR}/sub dir`, `${DIR}/link`, `${DIR}/missing`], {
      ...REQ,
      maxBytes: 4096,
    });
    for (const p of want) {
      expect(got[p], p).toBe(labSsh('lab-03', `cat -- '${p.replaceAll("'", `'\\''`)}'`).toString('utf8'));
    }
    expect(Object.keys(got).sort()).toEqual(want.sort());
    const small = await fetchFiles(conn, [`${DIR}/plain.conf`], { ...REQ, maxBytes: 3 });
    expect(small).toEqual({});
    expect(canaryFired('lab-03')).toBe(false);
  });
});

describe('a reconcile pass over a host hostop manages', () => {
  it('is one round trip cold (the inventory rides along with the probe) and warm', async () => {
    const host = 'lab-04';
    labSsh(host, 'rm -rf /var/lib/hostop /etc/hostop-test-roundtrip');
    const dir = desiredState([host], fileResource('rt', [host], '/etc/hostop-test-roundtrip', 'x\n'));
    const intent = renderSnapshot(loadDesiredState(dir).snapshot!, kindByName)[0]!;
    const opts = { apply: false, prune: true, wantDiffs: false };
    // hostop manages the file from here on: its inventory exists on the host.
    const applied = await reconcileHost(pool, intent, newHostMemory(), { ...opts, apply: true });
    expect(applied.status).toBe('converged');

    const counted = async (memory: HostMemory) => {
      const before = pool.counters(host).requests;
      const outcome = await reconcileHost(pool, intent, memory, opts);
      return [outcome.status, pool.counters(host).requests - before];
    };
    const memory = newHostMemory(); // a new process: nothing known about the host
    expect(await counted(memory)).toEqual(['in-sync', 1]);
    expect(memory.inventory?.inventory.files['/etc/hostop-test-roundtrip']).toMatchObject({ kind: 'File' });
    expect(await counted(memory)).toEqual(['in-sync', 1]);

    // Another hostop (a CLI apply beside the daemon) adds a file: the remembered inventory is stale, is read
    // again in one more round trip, and the file it added shows as one to prune.
    const both = renderSnapshot(
      loadDesiredState(
        desiredState(
          [host],
          fileResource('rt', [host], '/etc/hostop-test-roundtrip', 'x\n') +
            '---\n' +
            fileResource('rt2', [host], '/etc/hostop-test-roundtrip2', 'y\n'),
        ),
      ).snapshot!,
      kindByName,
    )[0]!;
    expect((await reconcileHost(pool, both, newHostMemory(), { ...opts, apply: true })).status).toBe(
      'converged',
    );
    const before = pool.counters(host).requests;
    const stale = await reconcileHost(pool, intent, memory, opts);
    expect(pool.counters(host).requests - before).toBe(2);
    expect(stale.plan?.files.map((f) => [f.path, f.action])).toEqual([
      ['/etc/hostop-test-roundtrip', 'unchanged'],
      ['/etc/hostop-test-roundtrip2', 'delete'],
    ]);
    labSsh(host, 'rm -rf /var/lib/hostop /etc/hostop-test-roundtrip /etc/hostop-test-roundtrip2');
  });
});
