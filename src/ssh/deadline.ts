import { HostopError, TimeoutError, TransportError } from '../core/errors.js';

/** A signal that fires at a deadline or when the caller aborts, always with a typed reason. */
export interface Deadline {
  signal: AbortSignal;
  /** Stops the timer and detaches from the caller's signal; call once the operation settles. */
  dispose(): void;
}

/**
 * Combines the caller's optional signal with a timeout of `ms` for one phase (connect, request, ...).
 * The signal's `reason` is a TimeoutError naming the phase and host when time runs out, the caller's
 * reason when it is a HostopError (so an outer deadline keeps its own message), and otherwise a
 * TransportError `Aborted`. An already-aborted caller signal gives an already-aborted deadline.
 */
export function deadline(phase: string, ms: number, host: string, outer?: AbortSignal): Deadline {
  const ctrl = new AbortController();
  const onOuter = () => ctrl.abort(typedAbortReason(outer?.reason, phase, host));
  const timer = setTimeout(() => ctrl.abort(new TimeoutError(`${phase} on ${host}`, ms, { host })), ms);
  if (outer?.aborted) onOuter();
  else outer?.addEventListener('abort', onOuter, { once: true });
  return {
    signal: ctrl.signal,
    dispose() {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    },
  };
}

function typedAbortReason(reason: unknown, phase: string, host: string): HostopError {
  if (reason instanceof HostopError) return reason;
  const where = host ? `${phase} on ${host}` : phase;
  return new TransportError('Aborted', `${where} was cancelled`, true, {
    host: host || undefined,
    cause: reason,
  });
}

/**
 * Calls `fn` once the signal aborts (at once if it already has) with its reason as a HostopError
 * (`deadline()` signals carry one already; others are typed as in `deadline`). Returns a function that
 * detaches the listener.
 */
export function whenAborted(signal: AbortSignal, fn: (reason: HostopError) => void, host = ''): () => void {
  const listener = () => fn(typedAbortReason(signal.reason, 'operation', host));
  if (signal.aborted) {
    listener();
    return () => {};
  }
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

/** Resolves like `p` unless the signal aborts first, then rejects with its reason typed as in whenAborted. */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal, host = ''): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const detach = whenAborted(signal, reject, host);
    p.then(
      (v) => {
        detach();
        resolve(v);
      },
      (e) => {
        detach();
        reject(e);
      },
    );
  });
}
