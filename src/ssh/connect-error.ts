import { HostopError, TransportError } from '../core/errors.js';

/** What ssh2 and the socket attach to their errors. */
interface Ssh2Error {
  message?: string;
  code?: string;
  level?: string;
}

/**
 * Sorts a failure to connect into a TransportError with a stable code and a message that says what to
 * do next. A key mismatch, a refused login and an unusable key are not retryable; network trouble is.
 */
export function connectError(err: unknown, host: string, endpoint: string): HostopError {
  if (err instanceof HostopError) return err;
  const e = (err ?? {}) as Ssh2Error;
  const msg = e.message ?? String(err);
  const t = (code: string, text: string, retryable: boolean) =>
    new TransportError(code, `host ${host} (${endpoint}): ${text}`, retryable, { host, cause: err });
  switch (e.code) {
    case 'ECONNREFUSED':
      return t('ConnectRefused', 'connection refused; is sshd running and the port right?', true);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return t('HostUnreachable', `unreachable (${e.code}); check the address and the network`, true);
    case 'ETIMEDOUT':
      return t('ConnectTimeout', 'TCP connect timed out', true);
  }
  if (e.level === 'client-timeout')
    return t('ConnectTimeout', `${msg}; the host is slow or unreachable`, true);
  if (e.level === 'client-authentication') {
    return t('AuthFailed', `key authentication refused for this user (${msg}); check authorized_keys`, false);
  }
  if (/no matching host key format/.test(msg)) {
    return t('HostKeyMismatch', 'the server offers no host key of the pinned type; re-pin its key', false);
  }
  return t('ConnectionLost', `connection failed: ${msg}`, true);
}
