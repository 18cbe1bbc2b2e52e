/**
 * One error base class; a subclass per failure family with a stable `code`.
 * `retryable` tells the work queue whether backing off and trying again can help
 * (a dropped connection can; a rejected host key or an invalid config cannot).
 */
export interface ErrorContext {
  host?: string;
  resource?: { kind: string; name: string };
  cause?: unknown;
}

export class HostopError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly host?: string;
  readonly resource?: { kind: string; name: string };

  constructor(code: string, message: string, retryable: boolean, ctx: ErrorContext = {}) {
    super(message, ctx.cause === undefined ? undefined : { cause: ctx.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = retryable;
    this.host = ctx.host;
    this.resource = ctx.resource;
  }
}

/** The desired state cannot be used; nothing was touched. Fix the files and retry. */
export class DesiredStateError extends HostopError {
  constructor(message: string, ctx: ErrorContext = {}) {
    super('DesiredStateInvalid', message, false, ctx);
  }
}

/** SSH could not connect, authenticate or keep the connection. Usually retryable. */
export class TransportError extends HostopError {}

/** The host answered, but not in a shape we understand (probe output, exit codes). */
export class ProtocolError extends HostopError {
  constructor(message: string, ctx: ErrorContext = {}) {
    super('ProtocolError', message, false, ctx);
  }
}

/** An operation exceeded its deadline. */
export class TimeoutError extends HostopError {
  constructor(phase: string, ms: number, ctx: ErrorContext = {}) {
    super('Timeout', `${phase} did not finish within ${ms} ms`, true, ctx);
  }
}

/** Applying a change failed; `code` says at which step (ValidationFailed, HealthCheckFailed, ...). */
export class ApplyError extends HostopError {}

/** Renders any thrown value as one line for a person, never a stack trace. */
export function describeError(err: unknown): string {
  if (err instanceof HostopError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
