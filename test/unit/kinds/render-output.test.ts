import { describe, expect, it } from 'vitest';
import { sortKeysDeep, toJson } from '../../../src/kinds/render-output.js';

describe('toJson', () => {
  it('sorts the keys of every object, at any depth; arrays keep their order', () => {
    expect(toJson({ b: 1, a: { d: [{ z: 1, y: 2 }, 3], c: [] }, Z: {} })).toBe(
      '{\n  "Z": {},\n  "a": {\n    "c": [],\n    "d": [\n      {\n        "y": 2,\n        "z": 1\n      },\n      3\n    ]\n  },\n  "b": 1\n}\n',
    );
  });

  // Pinned: a generic sorted stringify (safe-stable-stringify) writes "10" before "2", and so different bytes.
  it('writes integer-like keys first, in numeric order (a Grafana value mapping)', () => {
    const mapping = { options: { 10: 'ten', 2: 'two', '-1': 'minus one', up: 'up' } };
    expect(toJson(mapping)).toBe(
      '{\n  "options": {\n    "2": "two",\n    "10": "ten",\n    "-1": "minus one",\n    "up": "up"\n  }\n}\n',
    );
  });
});

describe('sortKeysDeep', () => {
  it('returns a copy with sorted keys and leaves scalars alone', () => {
    const input = { b: [{ y: 1, x: 2 }], a: 'x' };
    const out = sortKeysDeep(input) as typeof input;
    expect(Object.keys(out)).toEqual(['a', 'b']);
    expect(Object.keys(out.b[0]!)).toEqual(['x', 'y']);
    expect(Object.keys(input)).toEqual(['b', 'a']);
    expect(sortKeysDeep('s')).toBe('s');
    expect(sortKeysDeep(null)).toBe(null);
  });
});
