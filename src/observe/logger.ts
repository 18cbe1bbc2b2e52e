import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { MASK, redactText } from '../core/redact.js';

export type { Logger } from 'pino';

/**
 * Keys whose value is masked wherever they occur in a logged object, at any depth, in any letter case:
 * the exact names below, and any key ending in password/token/secret/apikey (basicAuthPassword, accessToken).
 * `content` is here because file contents routinely carry credentials; `headers` because OTLP headers do.
 */
const SECRET_KEYS = new Set([
  'password',
  'passwd',
  'token',
  'authorization',
  'cookie',
  'headers',
  'securejsondata',
  'secret',
  'secrets',
  'content',
]);
const SECRET_KEY_SUFFIX = /(password|token|secret|api_?key)$/i;
// Deep enough for any object we log; past it the value is dropped rather than walked unmasked.
const MAX_DEPTH = 12;

export interface LoggerOptions {
  /** pino level name; default `info`. */
  level?: string;
  /** Human-readable output (pino-pretty, in-process, synchronous). Default: whether stdout is a terminal. */
  pretty?: boolean;
  /** Where output goes (JSON lines, or pretty text when `pretty`); default stdout. */
  destination?: DestinationStream | NodeJS.WritableStream;
  /** Secret values currently known (datasource passwords, OTLP headers); read on every log call. */
  knownSecrets?: () => readonly string[];
}

/**
 * Creates the process logger: pino JSON lines (or pretty text on a terminal).
 *
 * Contract: no logged value reaches the destination unmasked if it sits under a secret-looking key (see
 * SECRET_KEYS, any depth, also inside child bindings), equals or contains a known secret, or has a
 * credential shape recognised by `redactText` — this holds for the message string, object fields and
 * Error messages/stacks alike. Logged objects are copied, never mutated. Errors are serialized as
 * `{type, message, stack, code?}`. Never throws while logging; cyclic references are written as `[Circular]`.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const secrets = options.knownSecrets ?? (() => []);
  const isPretty = options.pretty ?? process.stdout.isTTY === true;
  const destination = isPretty
    ? pretty({
        sync: true,
        colorize: options.destination === undefined && process.stdout.isTTY === true,
        destination: options.destination ?? 1,
      })
    : (options.destination ?? pino.destination({ sync: true }));
  return pino(
    {
      level: options.level ?? 'info',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        log: (obj) => scrub(obj, secrets()) as Record<string, unknown>,
        bindings: (bindings) => scrub(bindings, secrets()) as Record<string, unknown>,
      },
      serializers: {
        // Every final message string passes here: plain ones, printf-formatted ones, and the err.message pino
        // copies into `msg` for `log.error(err)`.
        msg: (msg: unknown) => (typeof msg === 'string' ? redactText(msg, secrets()) : msg),
        // `scrub` has already turned every Error into a masked plain object.
        err: (err: unknown) => err,
      },
    },
    destination,
  );
}

/** Correlation fields of one reconcile; undefined fields are left out. */
export interface LogContext {
  reconcileId?: string;
  host?: string;
  kind?: string;
  name?: string;
}

/** A child logger whose every line carries the given correlation fields. Never throws. */
export function childFor(parent: Logger, context: LogContext): Logger {
  const bindings: Record<string, string> = {};
  for (const [k, v] of Object.entries(context)) if (v !== undefined) bindings[k] = v;
  return parent.child(bindings);
}

function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key.toLowerCase()) || SECRET_KEY_SUFFIX.test(key);
}

function scrub(value: unknown, secrets: readonly string[], depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return redactText(value, secrets);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  seen.add(value);
  try {
    if (value instanceof Error) return scrubError(value, secrets, depth, seen);
    if (Array.isArray(value)) return value.map((v) => scrub(v, secrets, depth + 1, seen));
    if (!isPlainObject(value)) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = isSecretKey(k) && v !== undefined && v !== null ? MASK : scrub(v, secrets, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

function scrubError(err: Error, secrets: readonly string[], depth: number, seen: WeakSet<object>): unknown {
  const out: Record<string, unknown> = {
    type: err.name,
    message: redactText(err.message, secrets),
    stack: err.stack === undefined ? undefined : redactText(err.stack, secrets),
  };
  for (const [k, v] of Object.entries(err)) {
    out[k] = isSecretKey(k) ? MASK : scrub(v, secrets, depth + 1, seen);
  }
  if (err.cause !== undefined) out.cause = scrub(err.cause, secrets, depth + 1, seen);
  return out;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
