import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  activateScript,
  parseActivateOutput,
  parseStageOutput,
  stageScript,
  tempPathFor,
} from '../../../src/apply/apply-scripts.js';
import { buildSnapshot } from '../../../src/core/build-snapshot.js';
import { renderSnapshot } from '../../../src/core/render.js';
import { kindByName } from '../../../src/kinds/registry.js';
import { parseProbeOutput } from '../../../src/probe/probe-parse.js';
import { buildProbeScript } from '../../../src/probe/probe-script.js';
import { kindSchemas } from '../../../src/source/crds.js';
import { hostileString } from './hostile-strings.js';

// Generated hostile File resources go the whole way a real apply takes — YAML text, loader, render, the stage and
// activate scripts, the probe — on a real /bin/sh (dash) and filesystem. For every case: either the loader refuses
// it with a problem naming the field, or the exact bytes land in the exact file; and the canary never appears.

const root = mkdtempSync(join(tmpdir(), 'hostop-hostile-'));
const canary = join(root, 'CANARY');
afterAll(() => rmSync(root, { recursive: true, force: true }));

const HOSTS = stringify({
  apiVersion: 'hostop.dev/v1alpha1',
  kind: 'Host',
  metadata: { name: 'h1' },
  spec: {
    address: '10.0.0.1',
    hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
    identityFile: '/dev/null',
  },
});

const sh = (script: string) => {
  const r = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return r.stdout;
};

/** A File resource as a user would commit it (YAML text), loaded the way the daemon loads it. */
function load(spec: Record<string, unknown>) {
  const text = stringify(
    {
      apiVersion: 'hostop.dev/v1alpha1',
      kind: 'File',
      metadata: { name: 'hostile' },
      spec: { hosts: ['h1'], mode: '0640', ...spec },
      // lineWidth 0: the yaml library's folding of a long line that starts with a space does not read back
      // the same (seen: a folded `>2-` scalar moved a line break). hostop's renderers use lineWidth 0 too.
    },
    { lineWidth: 0 },
  );
  return buildSnapshot(
    [
      { file: 'hosts.yaml', text: HOSTS },
      { file: 'resources.yaml', text },
    ],
    kindSchemas(),
    kindByName,
  );
}

let n = 0;

describe('hostile File resources, applied by the real scripts on a real sh', () => {
  it('either a problem naming the field, or the exact bytes in the exact file; never an executed command', () => {
    const segment = hostileString(canary, 3);
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 3 }),
        hostileString(canary, 6),
        hostileString(canary, 2),
        (segments, content, validatorArg) => {
          const dir = join(root, `case-${n++}`);
          const path = `${dir}/${segments.join('/')}`;
          const loaded = load({
            path,
            content,
            validate: { argv: ['/usr/bin/printf', '%s|', validatorArg, '{}'], timeoutSeconds: 5 },
          });
          if (!loaded.snapshot) {
            const errors = loaded.problems.filter((p) => p.severity === 'error');
            expect(errors.length).toBeGreaterThan(0);
            for (const p of errors) expect(p.path).toMatch(/^\/spec\/(path|validate\/argv\/2)$/);
            expect(existsSync(canary)).toBe(false);
            return;
          }
          const file = renderSnapshot(loaded.snapshot, kindByName)[0]!.files[0]!;
          expect(file.path).toBe(path);
          expect(file.content).toBe(content);

          const staged = parseStageOutput(
            sh(stageScript([{ ...file }], join(root, 'state'))),
            1,
            'local',
          )[0]!;
          expect(staged.written, staged.output).toBe(0);
          expect(staged.validatorCode).toBe(0);
          // The validator got exactly its argv: each word whole, the candidate path in place of {}.
          expect(staged.output).toBe(`${validatorArg}|${tempPathFor(path)}|`);
          const activated = parseActivateOutput(
            sh(
              activateScript([{ path, keepOriginal: true }], {
                stateRoot: join(root, 'state'),
                inventory: '{}\n',
                daemonReload: false,
                units: [],
              }),
            ),
            1,
            'local',
          );
          expect(activated.activated[0]!.code).toBe(0);
          expect(readFileSync(path).equals(Buffer.from(content, 'utf8'))).toBe(true);
          expect((statSync(path).mode & 0o7777).toString(8)).toBe('640');
          expect(existsSync(tempPathFor(path))).toBe(false);
          // Directories hostop had to create are traversable like any /etc directory (a service user must read
          // a 0644 file in them).
          expect((statSync(dir).mode & 0o777).toString(8)).toBe('755');

          // The probe reads the same path back as exactly this file.
          const req = { paths: [path], units: [] };
          const probed = parseProbeOutput('local', req, sh(buildProbeScript(req)));
          expect(probed.observed.files[path]?.type).toBe('file');
          expect(probed.observed.files[path]?.size).toBe(Buffer.byteLength(content));
          expect(existsSync(canary)).toBe(false);
        },
      ),
      { numRuns: 60 },
    );
    // 60 applies through real sh scripts (about 7 s here): pure work, no waiting; the bound is generous so that
    // a loaded 2-core machine (CI with CPU hogs beside it: 34 s) does not cut it short.
  }, 180_000);

  it('a parent reached through a symlink is refused, and its name is never read as code', () => {
    // The refusal message once spliced the directory into a double-quoted echo: this path ran `touch` as root.
    mkdirSync(join(root, 'real'));
    symlinkSync(join(root, 'real'), join(root, 'link'));
    const path = `${root}/link/x$(touch ${canary})y/file`;
    const staged = parseStageOutput(
      sh(
        stageScript(
          [{ path, content: 'x', mode: '0644', owner: 'root', group: 'root' }],
          join(root, 'state'),
        ),
      ),
      1,
      'local',
    )[0]!;
    expect(staged.written).toBe(3);
    expect(staged.output).toBe(`parent directory ${root}/link is reached through a symlink`);
    expect(existsSync(canary)).toBe(false);
  });
});
