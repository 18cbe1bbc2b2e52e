import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TransportError } from '../../../src/core/errors.js';
import { fingerprint, hostKeyAlgorithms, parsePinnedKey } from '../../../src/ssh/host-key.js';

const dir = mkdtempSync(join(tmpdir(), 'hostop-hostkey-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A real key pair from ssh-keygen: its .pub line and ssh-keygen's own fingerprint of it. */
function realKey(type: 'ed25519' | 'ecdsa' | 'rsa') {
  const file = join(dir, `k-${type}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'root@lab', '-f', file]);
  const pub = readFileSync(`${file}.pub`, 'utf8').trim();
  const fp = execFileSync('ssh-keygen', ['-lf', `${file}.pub`])
    .toString()
    .split(' ')[1];
  return { pub, fp };
}

describe('parsePinnedKey', () => {
  it.each(['ed25519', 'ecdsa', 'rsa'] as const)(
    'reads a real %s .pub line and fingerprints it like ssh-keygen',
    (type) => {
      const { pub, fp } = realKey(type);
      const key = parsePinnedKey(pub, 'h1');
      expect(pub.startsWith(key.type)).toBe(true);
      expect(fingerprint(key.blob)).toBe(fp);
      // The bare base64 blob is accepted too.
      expect(parsePinnedKey(pub.split(' ')[1] as string, 'h1').blob.equals(key.blob)).toBe(true);
    },
  );

  const bad: [string, string][] = [
    ['empty', ''],
    ['not base64', 'ssh-ed25519 !!!'],
    ['blob too short', 'ssh-ed25519 AAAA'],
    [
      'declared type differs from the blob',
      `ecdsa-sha2-nistp256 ${'AAAAC3NzaC1lZDI1NTE5AAAAIG9X0STB2Gs9SI84MW/RnsRku1fX8aDhUMHzkwbTjr/g'}`,
    ],
    [
      'unsupported type',
      `ssh-dss ${Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-dss'), Buffer.alloc(8)]).toString('base64')}`,
    ],
  ];
  it.each(bad)('refuses %s with HostKeyInvalid naming the host', (_name, value) => {
    const err = (() => {
      try {
        parsePinnedKey(value, 'web-01');
      } catch (e) {
        return e;
      }
    })() as TransportError;
    expect(err).toBeInstanceOf(TransportError);
    expect([err.code, err.retryable, err.host]).toEqual(['HostKeyInvalid', false, 'web-01']);
    expect(err.message).toContain('web-01');
  });
});

describe('hostKeyAlgorithms', () => {
  it('offers only the pinned type (rsa as its SHA-2 signature algorithms first)', () => {
    expect(hostKeyAlgorithms('ssh-ed25519')).toEqual(['ssh-ed25519']);
    expect(hostKeyAlgorithms('ssh-rsa')).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  });
});
