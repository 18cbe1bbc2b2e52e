import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, systemClock } from './clock.js';
import type { StatusPersistence } from './status-store.js';

export const STATUS_FILE = 'status.json';
const TEMP_PREFIX = `${STATUS_FILE}.tmp-`;

/**
 * Stores the status document as `<stateDir>/status.json`.
 *
 * Contract: the directory is created with mode 0700 when missing (an existing one is left as the operator
 * made it); the file is written 0600 to a temp file beside it, fsynced, renamed over the old one and the
 * directory fsynced, so a crash at any point leaves the old or the new document, never a torn one. Temp
 * files left by a crash are removed on `read`. A corrupt file is renamed to `status.json.corrupt-<time>`.
 * Every method rejects with the underlying I/O error (ENOSPC, EACCES, ...) and leaves no temp file behind.
 */
export function createFileStatusPersistence(stateDir: string, clock: Clock = systemClock): StatusPersistence {
  const file = join(stateDir, STATUS_FILE);
  return {
    async read() {
      await mkdir(stateDir, { recursive: true, mode: 0o700 });
      await removeStaleTemps(stateDir);
      try {
        return await readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    },
    async write(text) {
      await mkdir(stateDir, { recursive: true, mode: 0o700 });
      const temp = join(stateDir, `${TEMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
      try {
        const handle = await open(temp, 'wx', 0o600);
        try {
          await handle.writeFile(text, 'utf8');
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temp, file);
      } catch (err) {
        await rm(temp, { force: true });
        throw err;
      }
      // The rename is durable only once the directory entry is on disk.
      const dir = await open(stateDir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    },
    async quarantine() {
      const stamp = new Date(clock.now()).toISOString().replace(/[:.]/g, '-');
      const target = `${file}.corrupt-${stamp}`;
      await rename(file, target);
      return target;
    },
  };
}

async function removeStaleTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (name.startsWith(TEMP_PREFIX)) await rm(join(dir, name), { force: true });
  }
}
