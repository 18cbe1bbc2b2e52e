import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildSnapshot } from '../../src/core/build-snapshot.js';
import { kindByName } from '../../src/kinds/registry.js';
import { kindSchemas } from '../../src/source/crds.js';
import { desiredState, hostDocs, hostop } from '../support/fleet.js';
import { labSsh } from '../support/lab.js';
import { hostileString } from '../unit/hostile/hostile-strings.js';

// Hostile desired state applied to a real host (lab-25; lab-26 also belongs to this file). Generated and
// hand-written cases in one desired state, so the lab part stays one apply: for each case either the loader
// refuses it naming the field, or the exact bytes are in the exact file (or the exact value in the service's
// environment); and a canary on the host proves that no payload ran as a command.
const HOST = 'lab-25';
const ROOT = '/etc/hostop-hostile';
const sh = (cmd: string) => labSsh(HOST, cmd).toString('utf8');
const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const canary = `/tmp/hostop-canary-${randomBytes(4).toString('hex')}`;
const seed = Number(process.env.HOSTOP_HOSTILE_SEED ?? Date.now() % 2 ** 31);

const doc = (kind: string, name: string, spec: Record<string, unknown>, metadata = {}) =>
  stringify(
    { apiVersion: 'hostop.dev/v1alpha1', kind, metadata: { name, ...metadata }, spec },
    { lineWidth: 0 },
  );

/** Loads one resource alone (with the host), as the loader sees it: a snapshot or the problems. */
function alone(resource: string) {
  return buildSnapshot(
    [
      { file: 'hosts.yaml', text: hostDocs([HOST]) },
      { file: 'resources.yaml', text: resource },
    ],
    kindSchemas(),
    kindByName,
  );
}

/**
 * Draws from `arb` (reproducibly from `seed`) and hands each draw to `take` until `wanted` of them were taken
 * (`take` returns true) or 400 were drawn; returns how many were taken.
 */
function validDraws<T>(
  arb: fc.Arbitrary<T>,
  seed: number,
  wanted: number,
  take: (v: T, i: number) => boolean,
) {
  let taken = 0;
  for (const [i, v] of fc.sample(arb, { numRuns: 400, seed }).entries()) {
    if (take(v, i) && ++taken === wanted) break;
  }
  return taken;
}

/** Every file under ROOT on the host with its sha256, read by python (no shell ever sees a path). */
function filesOnHost(): Record<string, string> {
  const py = `
import hashlib, json, os
out = {}
for d, _, names in os.walk(${JSON.stringify(ROOT)}):
    for n in names:
        p = os.path.join(d, n)
        if os.path.islink(p) or not os.path.isfile(p): out[p] = os.path.islink(p) and 'symlink' or 'other'
        else: out[p] = hashlib.sha256(open(p, 'rb').read()).hexdigest()
print(json.dumps(out))
`;
  return JSON.parse(labSsh(HOST, 'python3 -', py).toString('utf8')) as Record<string, string>;
}

describe('hostile desired state on a real host', () => {
  it(`generated and hand-written cases: refused at the field, or exact bytes in the exact place; nothing runs (seed ${seed})`, async () => {
    sh(
      `rm -rf /var/lib/hostop ${ROOT} /tmp/hostop-canary-*; mkdir -p ${ROOT}/real-dir; ` +
        `ln -s /root/.ssh/authorized_keys ${ROOT}/link-to-authorized-keys; ln -s /root/.ssh ${ROOT}/link-to-ssh-dir`,
    );
    const authorizedKeys = sh('sha256sum /root/.ssh/authorized_keys');

    const accepted: string[] = [];
    const expected = new Map<string, string>(); // path -> sha256 of what must be there
    const refusedAt = (resource: string, field: RegExp) => {
      const r = alone(resource);
      expect(r.snapshot, resource).toBeUndefined();
      const paths = r.problems.filter((p) => p.severity === 'error').map((p) => p.path);
      expect(
        paths.some((p) => field.test(p)),
        `${paths.join(', ')} for ${resource}`,
      ).toBe(true);
    };

    // Generated Files with hostile path segments and contents, drawn until 20 of them are valid (the share of
    // valid ones varies with the seed: a fixed count of draws once gave only 9 valid cases); each refused draw on
    // the way is checked to be refused at its path.
    const drawn = validDraws(
      fc.tuple(fc.array(hostileString(canary, 2), { minLength: 1, maxLength: 2 }), hostileString(canary, 6)),
      seed,
      20,
      ([segments, content], i) => {
        const path = `${ROOT}/gen-${i}/${segments.join('/')}`;
        const resource = doc('File', `gen-${i}`, { hosts: [HOST], path, content });
        if (!alone(resource).snapshot) {
          refusedAt(resource, /^\/spec\/path$/);
          return false;
        }
        accepted.push(resource);
        expected.set(path, sha(content));
        return true;
      },
    );
    expect(drawn, 'too few generated cases were valid to prove anything').toBe(20);

    // Hand-written cases.
    // A target that is a symlink to root's authorized_keys: the link is replaced, never written through.
    const viaLink = `${ROOT}/link-to-authorized-keys`;
    accepted.push(
      doc('File', 'symlink-target', { hosts: [HOST], path: viaLink, content: 'ssh-ed25519 AAAA attacker\n' }),
    );
    expected.set(viaLink, sha('ssh-ed25519 AAAA attacker\n'));
    // A parent directory that is a symlink (to /root/.ssh): refused at stage, nothing written there.
    accepted.push(
      doc('File', 'symlink-parent', {
        hosts: [HOST],
        path: `${ROOT}/link-to-ssh-dir/authorized_keys`,
        content: 'ssh-ed25519 AAAA attacker\n',
      }),
    );
    // A huge file (900 KB) arrives byte for byte.
    const huge = randomBytes(675_000).toString('base64');
    accepted.push(doc('File', 'huge', { hosts: [HOST], path: `${ROOT}/real-dir/huge`, content: huge }));
    expected.set(`${ROOT}/real-dir/huge`, sha(huge));
    // Hostile values in an env drop-in: each is refused at its key (line breaks are) or must reach the service's
    // environment exactly.
    const app = (env: Record<string, string>) =>
      doc('AppInstrumentation', 'hostile-env', {
        hosts: [HOST],
        serviceName: 'orders-api',
        collector: { host: HOST, protocol: 'grpc' },
        systemd: { unit: 'orders-api.service', dropInName: '50-hostile.conf' },
        env,
        health: { http: { url: 'http://127.0.0.1:8001/health' } },
      });
    const env: Record<string, string> = {};
    const valid = validDraws(hostileString(canary, 3), seed + 1, 6, (v, i) => {
      const one = { [`OTEL_HOSTILE_${i}`]: v };
      if (alone(app(one)).snapshot) return Boolean(Object.assign(env, one));
      refusedAt(app(one), new RegExp(`^/spec/env/OTEL_HOSTILE_${i}$`));
      return false;
    });
    expect(valid, 'too few generated env values were valid').toBe(6);
    accepted.push(app(env));
    // Refused at the field, each on its own.
    refusedAt(
      doc('File', 'traversal', {
        hosts: [HOST],
        path: `${ROOT}/../../root/.ssh/authorized_keys`,
        content: 'x',
      }),
      /^\/spec\/path$/,
    );
    refusedAt(doc('File', 'relative', { hosts: [HOST], path: 'etc/x', content: 'x' }), /^\/spec\/path$/);
    refusedAt(
      doc('File', 'nul-path', { hosts: [HOST], path: `${ROOT}/a\0b`, content: 'x' }),
      /^\/spec\/path$/,
    );
    refusedAt(
      doc('File', 'newline-path', { hosts: [HOST], path: `${ROOT}/a\nb`, content: 'x' }),
      /^\/spec\/path$/,
    );
    refusedAt(
      doc('File', 'mode', { hosts: [HOST], path: `${ROOT}/m`, content: 'x', mode: `0644; touch ${canary}` }),
      /^\/spec\/mode$/,
    );
    refusedAt(
      doc('File', 'owner', {
        hosts: [HOST],
        path: `${ROOT}/o`,
        content: 'x',
        owner: `root$(touch ${canary})`,
      }),
      /^\/spec\/owner$/,
    );
    refusedAt(
      doc('File', 'notify', {
        hosts: [HOST],
        path: `${ROOT}/n`,
        content: 'x',
        notify: [`x;touch ${canary}`],
      }),
      /^\/spec\/notify\/0$/,
    );
    refusedAt(doc('Service', 'unit', { hosts: [HOST], unit: `nginx$(touch ${canary})` }), /^\/spec\/unit$/);
    refusedAt(
      doc(
        'File',
        'label',
        { hosts: [HOST], path: `${ROOT}/l`, content: 'x' },
        { labels: { team: `a\ntouch ${canary}` } },
      ),
      /^\/metadata\/labels\/team$/,
    );
    refusedAt(
      doc('File', 'validator-nul', {
        hosts: [HOST],
        path: `${ROOT}/v`,
        content: 'x',
        validate: { argv: ['/bin/true', 'a\0b', '{}'] },
      }),
      /^\/spec\/validate\/argv\/1$/,
    );
    refusedAt(
      doc('AppInstrumentation', 'env-name', {
        hosts: [HOST],
        serviceName: 's',
        collector: { host: HOST, protocol: 'grpc' },
        systemd: { unit: 'orders-api.service' },
        env: { [`X;touch ${canary}`]: 'v' },
      }),
      /^\/spec\/env\//,
    );

    // One apply of everything accepted. Exit 1 because the symlinked parent is refused at stage.
    const dir = desiredState([HOST], accepted.join('---\n'));
    const apply = await hostop(['apply', dir]);
    expect(apply.stdout, apply.stderr).toMatch(
      /File\/symlink-parent\s+failed: could not write .*reached through a symlink/,
    );
    expect(apply.stdout, apply.stdout.slice(-3000) + apply.stderr).toMatch(
      /Apply: 0 host\(s\) converged, 0 already in sync, 1 failed/,
    );
    expect(apply.code).toBe(1);

    // Nothing ran, here or there.
    expect(sh('ls -d /tmp/hostop-canary-* 2>/dev/null || echo none').trim()).toBe('none');
    expect(existsSync(canary)).toBe(false);
    // Root's keys are untouched; the link was replaced by a regular file.
    expect(sh('sha256sum /root/.ssh/authorized_keys')).toBe(authorizedKeys);
    expect(sh(`stat -c %F ${viaLink}`).trim()).toBe('regular file');
    // Every accepted file holds exactly its bytes, at exactly its path; nothing else was created.
    const seen = filesOnHost();
    for (const [path, hash] of expected) expect(seen[path], path).toBe(hash);
    for (const path of Object.keys(seen)) {
      if (path.startsWith(`${ROOT}/link-to-`)) continue;
      expect(expected.has(path), `unexpected ${JSON.stringify(path)}`).toBe(true);
    }
    // The service reads exactly the hostile values (systemd parsed the drop-in hostop wrote).
    const environ = JSON.parse(
      sh(
        'python3 -c "import urllib.request;print(urllib.request.urlopen(\'http://127.0.0.1:8001/env\').read().decode())"',
      ),
    ).environ as Record<string, string>;
    for (const [k, v] of Object.entries(env)) expect(environ[k], k).toBe(v);

    // A plan now shows only the refused symlink case: the hostile state reads back as converged.
    const again = await hostop(['plan', dir]);
    expect(again.stdout).not.toMatch(/File\/gen-|hostile-env|File\/huge|symlink-target/);
  });
});
