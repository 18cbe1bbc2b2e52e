import { describe, expect, it } from 'vitest';
import { WatchGate } from '../../../src/daemon/watch-gate.js';

function gate() {
  let now = 1_000_000;
  const g = new WatchGate({ windowMs: 60_000, maxFindings: 3, baseMs: 5_000, maxMs: 20_000, now: () => now });
  const advance = (ms: number) => {
    now += ms;
  };
  return { g, advance, at: () => now };
}

describe('WatchGate', () => {
  it('admits every trigger of a host whose passes find drift now and then', () => {
    const { g, advance } = gate();
    for (let i = 0; i < 10; i++) {
      expect(g.admit('h')).toEqual({ now: true });
      g.record('h', true);
      advance(30_000); // two findings a minute: a person editing, not a loop
    }
    expect(g.backedOffUntil('h')).toBeUndefined();
  });

  it('backs off a host fought over in a loop, doubling up to the cap, and says until when', () => {
    const { g, advance, at } = gate();
    for (let i = 0; i < 3; i++) g.record('h', true);
    expect(g.admit('h')).toEqual({ now: true });
    g.record('h', true); // the fourth finding within a minute
    expect(g.admit('h')).toEqual({ now: false, at: at() + 5_000 });
    advance(5_000);
    expect(g.admit('h')).toEqual({ now: true });
    g.record('h', true);
    expect(g.backedOffUntil('h')).toBe(at() + 10_000);
    advance(10_000);
    g.record('h', true);
    expect(g.backedOffUntil('h')).toBe(at() + 20_000);
    advance(20_000);
    g.record('h', true);
    expect(g.backedOffUntil('h')).toBe(at() + 20_000); // capped
    expect(g.admit('other')).toEqual({ now: true });
  });

  it('forgives a host as soon as a pass finds it as desired', () => {
    const { g, advance } = gate();
    for (let i = 0; i < 5; i++) g.record('h', true);
    expect(g.backedOffUntil('h')).toBeDefined();
    advance(20_000);
    g.record('h', false);
    expect(g.backedOffUntil('h')).toBeUndefined();
    g.record('h', true);
    expect(g.admit('h')).toEqual({ now: true });
  });
});
