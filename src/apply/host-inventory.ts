import { ProtocolError } from '../core/errors.js';
import type { ResourceRef } from '../core/model.js';

/**
 * The ownership inventory hostop keeps on each host (`<stateRoot>/managed.json`): which paths it manages and for
 * which resource. It is what makes pruning safe: only paths listed here are ever deleted or restored; a file
 * hostop never managed is never touched.
 */
export interface ManagedFile extends ResourceRef {
  /** hostop found a file there before it first managed the path, and kept it in original/ to restore on prune. */
  original: boolean;
}

export interface HostInventory {
  version: 1;
  files: Record<string, ManagedFile>;
}

export const EMPTY_INVENTORY: HostInventory = { version: 1, files: {} };

/** Stable text: sorted paths, so an unchanged inventory is byte-identical (and its hash stable). */
export function serializeInventory(inv: HostInventory): string {
  const files = Object.fromEntries(
    Object.entries(inv.files)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([p, f]) => [p, { kind: f.kind, name: f.name, original: f.original }]),
  );
  return `${JSON.stringify({ version: 1, files }, null, 2)}\n`;
}

/** Parses the inventory; anything unexpected is a ProtocolError (hostop will not guess what it owns). */
export function parseInventory(text: string, host: string): HostInventory {
  if (text.trim() === '') return EMPTY_INVENTORY;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ProtocolError(
      'the inventory managed.json on the host is not valid JSON; inspect and fix or remove it',
      { host },
    );
  }
  const inv = v as HostInventory;
  const ok =
    inv?.version === 1 &&
    inv.files &&
    typeof inv.files === 'object' &&
    Object.entries(inv.files).every(
      ([p, f]) =>
        p.startsWith('/') &&
        typeof f?.kind === 'string' &&
        typeof f.name === 'string' &&
        typeof f.original === 'boolean',
    );
  if (!ok)
    throw new ProtocolError(
      'the inventory managed.json on the host has an unknown shape; inspect and fix or remove it',
      { host },
    );
  return { version: 1, files: { ...inv.files } };
}
