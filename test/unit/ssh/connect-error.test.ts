import { describe, expect, it } from 'vitest';
import { TimeoutError } from '../../../src/core/errors.js';
import { connectError } from '../../../src/ssh/connect-error.js';

const withProps = (message: string, props: Record<string, string>) =>
  Object.assign(new Error(message), props);

describe('connectError', () => {
  const cases: [string, unknown, string, boolean][] = [
    ['refused', withProps('connect ECONNREFUSED', { code: 'ECONNREFUSED' }), 'ConnectRefused', true],
    ['no route', withProps('connect EHOSTUNREACH', { code: 'EHOSTUNREACH' }), 'HostUnreachable', true],
    ['no network', withProps('connect ENETUNREACH', { code: 'ENETUNREACH' }), 'HostUnreachable', true],
    ['bad name', withProps('getaddrinfo ENOTFOUND', { code: 'ENOTFOUND' }), 'HostUnreachable', true],
    ['tcp timeout', withProps('connect ETIMEDOUT', { code: 'ETIMEDOUT' }), 'ConnectTimeout', true],
    [
      'handshake timeout',
      withProps('Timed out while waiting for handshake', { level: 'client-timeout' }),
      'ConnectTimeout',
      true,
    ],
    [
      'auth',
      withProps('All configured authentication methods failed', { level: 'client-authentication' }),
      'AuthFailed',
      false,
    ],
    [
      'no key of the pinned type',
      withProps('Handshake failed: no matching host key format', { level: 'handshake' }),
      'HostKeyMismatch',
      false,
    ],
    ['reset', withProps('read ECONNRESET', { code: 'ECONNRESET' }), 'ConnectionLost', true],
  ];
  it.each(cases)('%s', (_name, err, code, retryable) => {
    const e = connectError(err, 'web-01', '10.77.0.12:22');
    expect([e.code, e.retryable, e.host]).toEqual([code, retryable, 'web-01']);
    expect(e.message).toContain('web-01 (10.77.0.12:22)');
  });

  it('passes typed errors through unchanged', () => {
    const t = new TimeoutError('connect', 10, { host: 'x' });
    expect(connectError(t, 'x', 'a:22')).toBe(t);
  });
});
