import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { metric, startDaemon, waitFor } from '../support/daemon.js';
import { desiredState, writeDesiredState } from '../support/fleet.js';
import { labSsh } from '../support/lab.js';

// The daemon managing every host this suite owns (lab-16 … lab-30 and lab-41 … lab-50: 25 hosts) through many
// resync cycles while the desired state keeps changing: memory stays flat and no host or resource loses its
// status.
const HOSTS = [
  ...Array.from({ length: 15 }, (_, i) => `lab-${16 + i}`),
  ...Array.from({ length: 10 }, (_, i) => `lab-${41 + i}`),
];
const CYCLES = 14;
const RESYNC_MS = 2000; // the daemon's --resync

const resources = (rev: number) =>
  HOSTS.map(
    (h) => `apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: load-${h} }
spec:
  hosts: [${h}]
  path: /etc/hostop-load/host.conf
  content: "host ${h} revision ${rev}\\n"
---
apiVersion: hostop.dev/v1alpha1
kind: File
metadata: { name: load-shared-${h} }
spec:
  hosts: [${h}]
  path: /etc/hostop-load/shared.json
  content: ${JSON.stringify(`${JSON.stringify({ revision: rev, hosts: HOSTS.length, pad: 'x'.repeat(2000) })}\n`)}
`,
  ).join('---\n');

function git(dir: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      'git',
      ['-C', dir, '-c', 'user.name=load', '-c', 'user.email=load@test', ...args],
      { encoding: 'utf8' },
      (err, out) => (err ? reject(err) : resolve(out.trim())),
    ),
  );
}

const rssBytes = (pid: number) =>
  Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

interface Status {
  desiredState: { revision?: string };
  hosts: { host: string; reachable: boolean; lastProbeTime: string }[];
  resources: {
    host: string;
    kind: string;
    name: string;
    conditions: { type: string; status: string; observedRevision?: string }[];
  }[];
  events: unknown[];
}

describe(`the daemon on ${HOSTS.length} hosts for ${CYCLES} resync cycles while the desired state changes`, () => {
  // Each cycle waits for the state it asserts, so on a loaded machine the whole run takes longer, not fails.
  it('keeps memory flat and every host and resource status current', { timeout: 900_000 }, async () => {
    for (const h of HOSTS) labSsh(h, 'rm -rf /var/lib/hostop /etc/hostop-load');
    let rev = 0;
    const dir = desiredState(HOSTS, resources(rev));
    await git(dir, 'init', '-q');
    await git(dir, 'add', '.');
    await git(dir, 'commit', '-qm', 'rev 0');
    const d = await startDaemon(dir, ['--resync', `${RESYNC_MS / 1000}s`, '--concurrency', '32']);
    const pid = d.proc.pid!;
    try {
      await waitFor('ready', async () => (await fetch(`${d.url}/readyz`)).status === 200, 120_000, 250);
      const rss: number[] = [];
      const heap: number[] = [];
      let lastProbe = new Map<string, string>();
      for (let cycle = 1; cycle <= CYCLES; cycle++) {
        // Every other cycle a new commit changes every host's intent.
        if (cycle % 2 === 0) {
          rev++;
          writeDesiredState(dir, HOSTS, resources(rev));
          await git(dir, 'commit', '-qam', `rev ${rev}`);
        }
        // Each cycle ends when every host has been probed again since the last one: the state asserted, not a
        // sleep (on a loaded machine a 2 s window says more about the machine than about the daemon).
        const status = (await waitFor(
          `every host probed again in cycle ${cycle}`,
          async () => {
            const s = (await (await fetch(`${d.url}/status`)).json()) as Status;
            const again = s.hosts.every((h) => (lastProbe.get(h.host) ?? '') < h.lastProbeTime);
            return again && s.hosts.length === HOSTS.length ? s : undefined;
          },
          60_000,
          250,
        )) as Status;
        rss.push(rssBytes(pid));
        heap.push((await metric(d.url, 'nodejs_heap_size_used_bytes')) ?? 0);
        // No host is lost and each stays reachable.
        expect(status.hosts.map((h) => h.host).sort()).toEqual([...HOSTS].sort());
        for (const h of status.hosts) expect(h.reachable, h.host).toBe(true);
        lastProbe = new Map(status.hosts.map((h) => [h.host, h.lastProbeTime]));
        expect(status.events.length).toBeLessThanOrEqual(1000);
      }

      // After the last change settles: every resource of every host Ready at the final revision, on the hosts too.
      const head = await git(dir, 'rev-parse', 'HEAD');
      await waitFor(
        'every resource Ready at the final revision',
        async () => {
          const status = (await (await fetch(`${d.url}/status`)).json()) as Status;
          const ready = status.resources.filter((r) =>
            r.conditions.some(
              (c) => c.type === 'Ready' && c.status === 'True' && c.observedRevision === head,
            ),
          );
          return ready.length === HOSTS.length * 2;
        },
        30_000,
        500,
      );
      for (const h of HOSTS)
        expect(labSsh(h, 'cat /etc/hostop-load/host.conf').toString()).toBe(`host ${h} revision ${rev}\n`);
      expect(await metric(d.url, 'hostop_workqueue_depth')).toBe(0);

      // Memory: after warm-up (first third), the last third is not above it beyond noise.
      const third = Math.floor(CYCLES / 3);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const mb = (x: number) => Math.round(x / 1e5) / 10;
      const early = { rss: mean(rss.slice(third, 2 * third)), heap: mean(heap.slice(third, 2 * third)) };
      const late = { rss: mean(rss.slice(-third)), heap: mean(heap.slice(-third)) };
      const why = `RSS MB per cycle ${JSON.stringify(rss.map(mb))}, heap MB ${JSON.stringify(heap.map(mb))}`;
      console.log(why);
      expect(late.rss, why).toBeLessThan(early.rss * 1.15 + 8e6);
      expect(late.heap, why).toBeLessThan(early.heap * 1.25 + 4e6);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});
