import { createHash } from 'node:crypto';
import type { ServerHostKeyAlgorithm } from 'ssh2';
import { type HostopError, TransportError } from '../core/errors.js';
import type { HostRef } from '../core/model.js';

const SUPPORTED = new Set([
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
]);

/** A pinned host key: the SSH wire-format public key blob and the key type it declares. */
export interface PinnedKey {
  type: string;
  blob: Buffer;
}

/**
 * Reads a `Host`'s `hostKey`: `TYPE BASE64 [comment]` (a known_hosts / .pub line without host names)
 * or the bare base64 blob. The type is taken from inside the blob, which is what the server signs with;
 * a declared type that disagrees with it is refused. Throws TransportError `HostKeyInvalid`.
 */
export function parsePinnedKey(hostKey: string, host: string): PinnedKey {
  const fields = hostKey.trim().split(/\s+/);
  const b64 = fields.length === 1 ? fields[0] : fields[1];
  const declared = fields.length === 1 ? undefined : fields[0];
  const invalid = (why: string) =>
    new TransportError(
      'HostKeyInvalid',
      `host ${host}: pinned hostKey is not usable (${why}); fix the Host resource`,
      false,
      {
        host,
      },
    );
  if (!b64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw invalid('expected "TYPE BASE64" or BASE64');
  const blob = Buffer.from(b64, 'base64');
  const type = blobType(blob);
  if (type === undefined) throw invalid('the key blob is malformed');
  if (declared !== undefined && declared !== type)
    throw invalid(`declared ${declared} but the key is ${type}`);
  if (!SUPPORTED.has(type))
    throw invalid(`key type ${type} is not supported; pin an ed25519, ecdsa or rsa key`);
  return { type, blob };
}

/** The wire-format blob starts with the key type as an SSH string (uint32 length + bytes). */
function blobType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return undefined;
  const type = blob.subarray(4, 4 + len).toString('latin1');
  return /^[a-z0-9@.-]+$/.test(type) ? type : undefined;
}

/** OpenSSH's fingerprint form, `SHA256:` + unpadded base64 of the blob's digest. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * The host-key algorithms to offer so the server presents the pinned key and no other: a server
 * with several host keys otherwise picks by the client's preference order, and an honest server
 * would then fail verification against a pin of another type.
 */
export function hostKeyAlgorithms(type: string): ServerHostKeyAlgorithm[] {
  if (type === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return [type as ServerHostKeyAlgorithm]; // parsePinnedKey admits only types that name their algorithm
}

/** The refusal when the presented key is not the pinned one: both fingerprints, and what to do. */
export function hostKeyMismatch(
  host: HostRef,
  endpoint: string,
  pinned: Buffer,
  presented: Buffer,
): HostopError {
  return new TransportError(
    'HostKeyMismatch',
    `host ${host.name} (${endpoint}) presented host key ${fingerprint(presented)} but ${fingerprint(pinned)} is pinned; ` +
      'refusing to connect. If the host was reinstalled, verify the new key and update hostKey.',
    false,
    { host: host.name },
  );
}
