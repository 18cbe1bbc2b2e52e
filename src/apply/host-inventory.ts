import { RESOURCE_NAME } from '../core/build-snapshot.js';
import { ProtocolError } from '../core/errors.js';
import type { ManagedFile } from '../core/model.js';
import { unsafePath } from '../core/render.js';
import { kinds } from '../kinds/registry.js';

/**
 * The ownership inventory hostop keeps on each host (`<stateRoot>/managed.json`): which paths it manages and for
 * which resource. It is what makes pruning safe: only paths listed here are ever deleted or restored; a file
 * hostop never managed is never touched.
 */
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

/**
 * Bounds on what a host's inventory may hold. It is read from the host, so a hostile host could otherwise push
 * thousands of made-up kind/name pairs into /metrics labels and /status (each becomes a pruned resource).
 */
const MAX_ENTRIES = 10_000;
/** The kinds hostop has: an inventory naming any other was not written by this hostop. */
const KNOWN_KINDS = new Set(kinds.map((k) => k.kind));

/**
 * Parses the inventory; anything unexpected is a ProtocolError (hostop will not guess what it owns): paths
 * must be normalised absolute paths, kinds must be hostop's own, names valid resource names, and there are at most
 * MAX_ENTRIES of them. Only the known fields are kept.
 */
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
  const entries = inv?.files && typeof inv.files === 'object' ? Object.entries(inv.files) : undefined;
  const ok =
    inv?.version === 1 &&
    entries !== undefined &&
    !Array.isArray(inv.files) &&
    entries.length <= MAX_ENTRIES &&
    entries.every(
      ([p, f]) =>
        p.length <= 4096 &&
        unsafePath(p) === undefined &&
        typeof f?.kind === 'string' &&
        KNOWN_KINDS.has(f.kind) &&
        typeof f.name === 'string' &&
        RESOURCE_NAME.test(f.name) &&
        typeof f.original === 'boolean',
    );
  if (!ok)
    throw new ProtocolError(
      'the inventory managed.json on the host has an unknown shape; inspect and fix or remove it',
      { host },
    );
  return {
    version: 1,
    files: Object.fromEntries(
      entries.map(([p, f]) => [p, { kind: f.kind, name: f.name, original: f.original }]),
    ),
  };
}
