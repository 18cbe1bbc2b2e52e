import { describe, expect, it } from 'vitest';
import { parseInventory, serializeInventory } from '../../../src/apply/host-inventory.js';
import { ProtocolError } from '../../../src/core/errors.js';

const entry = (over: Record<string, unknown> = {}) => ({
  kind: 'File',
  name: 'motd',
  original: false,
  ...over,
});
const inv = (files: Record<string, unknown>) => JSON.stringify({ version: 1, files });

describe('the inventory read from a host is checked before it is believed', () => {
  it('round-trips what hostop writes, keeping only the known fields', () => {
    const text = inv({ '/etc/motd': entry({ extra: 'x'.repeat(100) }) });
    const parsed = parseInventory(text, 'h');
    expect(parsed).toEqual({ version: 1, files: { '/etc/motd': entry() } });
    expect(parseInventory(serializeInventory(parsed), 'h')).toEqual(parsed);
  });

  it.each([
    [
      'thousands of made-up resources',
      inv(Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`/etc/f${i}`, entry()]))),
    ],
    ['a kind with an escape sequence', inv({ '/etc/motd': entry({ kind: 'File\x1b]0;x\x07' }) })],
    ['a kind that is not PascalCase', inv({ '/etc/motd': entry({ kind: 'file' }) })],
    ['a kind hostop does not have', inv({ '/etc/motd': entry({ kind: 'Bogus' }) })],
    ['a name that no resource can have', inv({ '/etc/motd': entry({ name: 'Motd With Spaces' }) })],
    ['a relative path', inv({ 'etc/motd': entry() })],
    ['a path with ..', inv({ '/etc/../root/.ssh/authorized_keys': entry() })],
    ['a path with a line break', inv({ '/etc/mo\ntd': entry() })],
    ['files as a list', JSON.stringify({ version: 1, files: [entry()] })],
    ['another version', JSON.stringify({ version: 2, files: {} })],
  ])('refuses %s', (_name, text) => {
    expect(() => parseInventory(text, 'h')).toThrow(ProtocolError);
  });
});
