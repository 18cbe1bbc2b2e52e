import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningDaemon, metric, startDaemon, waitFor } from '../support/daemon.js';
import { HOSTOP_BIN, desiredState, fileResource } from '../support/fleet.js';
import { labSsh } from '../support/lab.js';

// One hostile host beside a calm one, under the daemon (lab-25 and lab-26, shared with hostile.test.ts and
// symlink-race.test.ts). lab-25 keeps rewriting its managed files with what issue 12 found stalls or fools a
// reconciler: a YAML alias bomb (590 KB that expands to five million nodes), a 200 GB sparse file, terminal
// escape sequences; then a flooded inventory. The daemon must keep answering /healthz, keep correcting the calm
// host, stay within memory, and show none of it raw. Costs are asserted loosely (1 s, 300 MB; measured 165 ms and
// 90 MB here, 1.7 s and 377 MB before YAML compares were bounded by size): a
// regression to minutes or gigabytes fails, a slow CI machine does not.
const HOSTILE = 'lab-25';
const CALM = 'lab-26';
const DIR = '/etc/hostop-hh';
const sh = (host: string, cmd: string) => labSsh(host, cmd).toString('utf8');
const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' }))![1]) /
  1024;

const BOMB = `import sys
keys = ''.join('k%d: %d\\n  ' % (i, i) for i in range(50000))
sys.stdout.write('a: &a\\n  ' + keys.rstrip() + '\\n' + ''.join('r%d: *a\\n' % i for i in range(99)))
`;
const HOSTILE_LOOP = [
  'while :; do',
  `  cp /root/hostop-bomb.yaml ${DIR}/.b && mv -f ${DIR}/.b ${DIR}/bomb.yaml`,
  `  truncate -s 200G ${DIR}/big.bin`,
  `  printf '\\033]52;c;aGFja2Vk\\007\\033[2K\\033]0;pwned\\007\\n' > ${DIR}/esc.txt`,
  '  sleep 0.3',
  'done',
].join('\n');

describe('a hostile host does not stall the daemon', () => {
  let daemon: RunningDaemon;
  const dir = desiredState(
    [HOSTILE, CALM],
    [
      fileResource('bomb', [HOSTILE], `${DIR}/bomb.yaml`, 'a: 1\n'),
      fileResource('big', [HOSTILE], `${DIR}/big.bin`, 'x\n'),
      fileResource('esc', [HOSTILE], `${DIR}/esc.txt`, 'plain\n'),
      fileResource('calm', [CALM], `${DIR}/calm.txt`, 'calm\n'),
    ].join('---\n'),
  );

  beforeAll(async () => {
    for (const h of [HOSTILE, CALM])
      sh(h, `systemctl stop hostop-hostile 2>/dev/null; rm -rf /var/lib/hostop ${DIR}`);
    sh(HOSTILE, `python3 - > /root/hostop-bomb.yaml <<'EOF'\n${BOMB}EOF`);
    expect(Number(sh(HOSTILE, 'stat -c %s /root/hostop-bomb.yaml'))).toBeGreaterThan(500_000);
    // The parse bounds alone, without host watches: with them, the full suite's runs saw a worst /healthz of
    // 447-1115 ms here (38-74 ms when run alone): an open finding of issue 14, stated in its closing note. The
    // watch against a hostile writer is test/lab/host-watch.test.ts (the loop writer).
    daemon = await startDaemon(dir, ['--resync', '2s', '--watch', 'off']);
    await waitFor('ready', async () => (await fetch(`${daemon.url}/readyz`)).status === 200, 120_000);
  }, 180_000);
  afterAll(async () => {
    sh(HOSTILE, 'systemctl stop hostop-hostile 2>/dev/null; true');
    expect(await daemon.stop()).toBe(0);
  });

  it('keeps serving /healthz and correcting the calm host while the hostile one rewrites its files', async () => {
    sh(HOSTILE, `cat > /root/hostop-hostile.sh <<'EOF'\n${HOSTILE_LOOP}\nEOF`);
    sh(
      HOSTILE,
      'systemd-run --quiet --unit=hostop-hostile --property=RuntimeMaxSec=300 /bin/sh /root/hostop-hostile.sh',
    );
    const corrected = async (host: string) =>
      (await metric(daemon.url, 'hostop_drift_corrections_total', { host })) ?? 0;
    const calmBefore = await corrected(CALM);
    let worstMs = 0;
    let worstRss = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const t = Date.now();
        const r = await fetch(`${daemon.url}/healthz`);
        expect(r.status).toBe(200);
        worstMs = Math.max(worstMs, Date.now() - t);
        worstRss = Math.max(worstRss, rssMb(daemon.proc.pid!));
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
    try {
      // The daemon probes, compares and rewrites the hostile files pass after pass...
      const probes = new Set<string>();
      await waitFor(
        'three passes over lab-25',
        async () => {
          const s = (await (await fetch(`${daemon.url}/status`)).json()) as {
            hosts: { host: string; lastProbeTime: string }[];
          };
          probes.add(s.hosts.find((h) => h.host === HOSTILE)?.lastProbeTime ?? '');
          return probes.size >= 4; // the one before the loop started, and three while it runs
        },
        300_000,
      );
      // ...and meanwhile a hand edit on the calm host is put back as usual.
      sh(CALM, `echo edited > ${DIR}/calm.txt`);
      await waitFor('calm host corrected', async () => (await corrected(CALM)) > calmBefore, 120_000);
      expect(sh(CALM, `cat ${DIR}/calm.txt`)).toBe('calm\n');
    } finally {
      polling = false;
      await poller;
      sh(HOSTILE, 'systemctl stop hostop-hostile 2>/dev/null; true');
    }
    // A file grown between its stat and its hash once left sha256sum reading 200 GB of zeros on the host for
    // minutes after the probe gave up: every hash is bounded in time, so none is left running.
    await waitFor(
      'no sha256sum left on the host',
      () => sh(HOSTILE, 'pgrep -x sha256sum || true') === '',
      60_000,
    );
    console.log(`worst /healthz ${worstMs} ms, worst RSS ${worstRss.toFixed(0)} MB`);
    expect(worstMs).toBeLessThan(1000);
    expect(worstRss).toBeLessThan(300);

    // The escape sequences reached neither the text status nor the logs raw.
    // (exit 1: a host is not in sync; the text is what an operator reads.)
    const text = spawnSync(process.execPath, [HOSTOP_BIN, 'status', '--state-dir', daemon.stateDir], {
      encoding: 'utf8',
    }).stdout;
    expect(text).toMatch(/lab-25/);
    expect(text).not.toContain('\x1b');
    expect(JSON.stringify(daemon.logs)).not.toContain('\\u001b]52');
  }, 600_000);

  it('a flooded inventory is one clear host error, not thousands of labels; other hosts carry on', async () => {
    const flood = JSON.stringify({
      version: 1,
      files: Object.fromEntries(
        Array.from({ length: 20_000 }, (_, i) => [
          `/etc/x${i}`,
          { kind: 'Bogus', name: `b${i}`, original: false },
        ]),
      ),
    });
    // First the host back in sync, so that no apply of the daemon rewrites the inventory after the flood.
    await waitFor(
      'lab-25 converged',
      async () =>
        // At most 4 KiB read back: until the daemon put it back, big.bin is the hostile host's huge one.
        sh(HOSTILE, `cat ${DIR}/bomb.yaml ${DIR}/big.bin ${DIR}/esc.txt | head -c 4096`) ===
          'a: 1\nx\nplain\n' &&
        (
          await Promise.all(
            ['bomb', 'big', 'esc'].map((name) =>
              metric(daemon.url, 'hostop_resource_drifted', { host: HOSTILE, kind: 'File', name }),
            ),
          )
        ).every((v) => v === 0),
      60_000,
    );
    labSsh(HOSTILE, 'cat > /var/lib/hostop/managed.json', flood);
    await waitFor(
      'lab-25 error',
      async () => {
        const s = (await (await fetch(`${daemon.url}/status`)).json()) as {
          hosts: { host: string; lastError?: { message: string } }[];
        };
        return s.hosts.find((h) => h.host === HOSTILE)?.lastError?.message.includes('managed.json');
      },
      60_000,
    );
    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    expect(metrics).not.toMatch(/Bogus|\/etc\/x1\b/);
    expect(metrics.length).toBeLessThan(200_000);
    // The calm host is still reconciled.
    sh(CALM, `echo edited-again > ${DIR}/calm.txt`);
    await waitFor('calm host corrected', () => sh(CALM, `cat ${DIR}/calm.txt`) === 'calm\n', 120_000);
  }, 600_000);
});
