import { describe, expect, it } from 'vitest';
import { type PassAftermath, afterPass } from '../../../src/daemon/host-pass-state.js';
import type { HostOutcome, ResourceOutcome } from '../../../src/engine/outcome.js';
import { fileIntent, hostIntent } from '../../support/intents.js';

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

/** An intent with one file per name; its content decides the resource's hash. */
const intent = (contents: Record<string, string>) =>
  hostIntent(
    Object.entries(contents).map(([name, content]) =>
      fileIntent({ path: `/etc/${name}`, content, resource: { kind: 'File', name } }),
    ),
  );
const none = new Map<string, string>();

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
    expect(afterPass({ stalledAt, inSync: none }, o, intent({}), 'h2').state.stalledAt).toBe(expected);
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
    expect(afterPass({ inSync: none }, o, intent({}), 'h').retry).toEqual(retry);
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
    expect(afterPass({ inSync: none }, o, intent({}), 'h').logLevel).toBe(level);
  });

  it('remembers a resource as in sync at its hash when the pass observed it as desired, and only then', () => {
    const v1 = intent({ f0: 'v1\n', f1: 'v1\n' });
    const v2 = intent({ f0: 'v2\n', f1: 'v2\n' });
    const next = (prev: ReadonlyMap<string, string>, o: HostOutcome, i = v1) =>
      afterPass({ inSync: prev }, o, i, 'h').state.inSync;
    const atV1 = next(none, outcome('in-sync'));
    expect([...atV1.keys()]).toEqual(['File/f0', 'File/f1']);
    // Applied and verified (a roll-out): f0 is in sync at v2; f1 failed and keeps its v1 hash.
    const mixed = next(atV1, outcome('degraded', ['applied', 'failed']), v2);
    expect(mixed.get('File/f0')).not.toBe(atV1.get('File/f0'));
    expect(mixed.get('File/f1')).toBe(atV1.get('File/f1'));
    expect(next(mixed, outcome('converged', ['applied', 'pruned']), v2)).toEqual(
      next(none, outcome('in-sync'), v2),
    );
    // Nothing observed, nothing learnt: drift, holds, failures and a host that did not answer keep the map.
    for (const o of [
      outcome('drifted', ['drifted', 'held']),
      outcome('rolled-back', ['rolled-back', 'validation-failed']),
      outcome('unreachable', [], refused),
      outcome('failed', ['applied', 'unchanged']),
    ])
      expect(next(none, o)).toEqual(none);
    // The previous state is never changed.
    expect(atV1.size).toBe(2);
    expect(none.size).toBe(0);
  });
});
