import { describe, expect, it } from 'vitest';
import { type Condition, getCondition, setCondition } from '../../../src/daemon/conditions.js';

const T1 = '2025-01-01T00:00:00.000Z';
const T2 = '2025-01-01T00:01:00.000Z';

const ready = (status: Condition['status'], reason = 'Converged', message = 'ok') =>
  ({ type: 'Ready', status, reason, message, observedRevision: 'abc' }) as const;

describe('setCondition', () => {
  it('appends a new type with the transition time now', () => {
    const out = setCondition([], ready('True'), T1);
    expect(out).toEqual([{ ...ready('True'), lastTransitionTime: T1 }]);
  });

  it.each([
    ['same status, new reason/message/revision', ready('True', 'StillFine', 'still ok'), T1],
    ['status True -> False', ready('False', 'DriftDetected', 'motd differs'), T2],
    ['status True -> Unknown', ready('Unknown', 'HostUnreachable', 'timeout'), T2],
  ])('%s: transition time is %s', (_label, update, expected) => {
    const before = setCondition([], ready('True'), T1);
    const after = setCondition(before, update, T2);
    expect(after).toHaveLength(1);
    expect(after[0]).toEqual({ ...update, lastTransitionTime: expected });
  });

  it('returns the very same array when nothing changed, and never mutates the input', () => {
    const before = Object.freeze(setCondition([], ready('True'), T1)) as readonly Condition[];
    expect(setCondition(before, ready('True'), T2)).toBe(before);
    const changed = setCondition(before, ready('False'), T2);
    expect(changed).not.toBe(before);
    expect(before[0]?.status).toBe('True');
  });

  it('keeps other types in place', () => {
    let cs = setCondition([], ready('True'), T1);
    cs = setCondition(cs, { type: 'Drifted', status: 'False', reason: 'InSync', message: '' }, T1);
    cs = setCondition(cs, ready('False'), T2);
    expect(cs.map((c) => c.type)).toEqual(['Ready', 'Drifted']);
    expect(getCondition(cs, 'Drifted')?.lastTransitionTime).toBe(T1);
    expect(getCondition(cs, 'Ready')?.lastTransitionTime).toBe(T2);
    expect(getCondition(cs, 'Stalled')).toBeUndefined();
  });
});
