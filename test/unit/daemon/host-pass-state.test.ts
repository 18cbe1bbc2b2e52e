import { describe, expect, it } from 'vitest';
import { type PassAftermath, afterPass } from '../../../src/daemon/host-pass-state.js';
import type { HostOutcome, ResourceOutcome } from '../../../src/engine/outcome.js';

const outcome = (
  status: HostOutcome['status'],
  results: ResourceOutcome['result'][] = [],
  error?: HostOutcome['error'],
): HostOutcome => ({
  host: 'web01',
  status,
  resources: results.map((result, i) => ({ kind: 'File', name: `f${i}`, result })),
  checks: [],
  durationMs: 5,
  ...(error && { error }),
});

const refused = { code: 'HostKeyMismatch', message: 'host key changed', retryable: false };

describe('afterPass', () => {
  it.each<[string, string | undefined, HostOutcome, string | undefined]>([
    // A rollback or a failed validation stalls the intent the pass ran for, replacing an older stall.
    ['rollback stalls', undefined, outcome('rolled-back', ['rolled-back']), 'h2'],
    ['rollback restalls at the new hash', 'h1', outcome('rolled-back', ['rolled-back']), 'h2'],
    ['validation failure stalls', undefined, outcome('degraded', ['applied', 'validation-failed']), 'h2'],
    [
      'validation failure stalls a drifted pass too',
      undefined,
      outcome('drifted', ['validation-failed']),
      'h2',
    ],
    // Observed as desired: the stall is over.
    ['converged ends a stall', 'h1', outcome('converged', ['applied']), undefined],
    ['in-sync ends a stall', 'h2', outcome('in-sync'), undefined],
    // Anything else keeps what was there.
    ['drift keeps a stall', 'h1', outcome('drifted', ['drifted']), 'h1'],
    ['drift keeps no stall', undefined, outcome('drifted', ['drifted']), undefined],
    ['degraded without validation failure keeps', 'h1', outcome('degraded', ['applied', 'failed']), 'h1'],
    ['unreachable keeps', 'h1', outcome('unreachable'), 'h1'],
    ['failed keeps', 'h1', outcome('failed'), 'h1'],
  ])('%s', (_name, stalledAt, o, expected) => {
    expect(afterPass({ stalledAt }, o, 'h2').state).toEqual({ stalledAt: expected });
  });

  it.each<[HostOutcome, PassAftermath['retry']]>([
    [outcome('unreachable', [], refused), refused],
    [
      outcome('failed', [], { code: 'Timeout', message: 'pass took too long', retryable: true }),
      { code: 'Timeout', message: 'pass took too long', retryable: true },
    ],
    [outcome('failed'), { code: 'PassFailed', message: 'pass failed', retryable: true }],
    [outcome('rolled-back', ['rolled-back']), undefined],
    [outcome('degraded', ['failed']), undefined],
    [outcome('drifted', ['drifted']), undefined],
  ])('retries only a pass that failed as a whole: %j', (o, retry) => {
    expect(afterPass({}, o, 'h').retry).toEqual(retry);
  });

  it.each<[HostOutcome, PassAftermath['logLevel']]>([
    [outcome('in-sync'), 'debug'],
    [outcome('converged', ['applied']), 'info'],
    [outcome('drifted', ['drifted']), 'info'],
    [outcome('degraded', ['failed']), 'warn'],
    [outcome('rolled-back', ['rolled-back']), 'warn'],
    [outcome('unreachable', [], refused), 'warn'],
    [outcome('failed'), 'info'],
  ])('logs %j at %s', (o, level) => {
    expect(afterPass({}, o, 'h').logLevel).toBe(level);
  });
});
