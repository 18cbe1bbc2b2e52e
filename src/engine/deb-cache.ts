import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { MAX_DEB_BYTES } from '../source/package-files.js';

/** A download may take this long, whole (a 100 MB release .deb at 2 MB/s is under a minute). */
export const DEB_FETCH_TIMEOUT_MS = 300_000;

/** Where `hostop plan/apply` keep fetched .debs: `$XDG_CACHE_HOME/hostop/packages` (the daemon: its state dir). */
export function defaultPackageCache(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'hostop', 'packages');
}

/**
 * The local copy of a `.deb` known by its URL and sha256: `<cache>/<sha256>.deb`, fetched once and never again
 * (its name is its hash, checked before it gets that name). The download is bounded in size (MAX_DEB_BYTES, and
 * stopped as soon as it is over) and in time; what arrives is hashed on the way and renamed into place only when
 * the hash is the declared one. Resolves with the path, or rejects with an Error saying what went wrong.
 */
export async function cachedDeb(
  url: string,
  sha256: string,
  cache: string,
  opts: { timeoutMs?: number; maxBytes?: number } = {},
): Promise<string> {
  const file = join(cache, `${sha256}.deb`);
  if (
    await stat(file).then(
      (s) => s.isFile(),
      () => false,
    )
  )
    return file;
  await mkdir(cache, { recursive: true, mode: 0o700 });
  const maxBytes = opts.maxBytes ?? MAX_DEB_BYTES;
  const signal = AbortSignal.timeout(opts.timeoutMs ?? DEB_FETCH_TIMEOUT_MS);
  const res = await fetch(url, { signal, redirect: 'follow' }).catch((e: Error) => {
    throw signal.aborted ? timedOut(url, opts.timeoutMs) : new Error(`GET ${url}: ${e.message}`);
  });
  if (!res.ok || !res.body) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > maxBytes) throw new Error(`GET ${url}: ${declared} bytes, over the ${maxBytes}-byte limit`);
  const part = `${file}.${randomBytes(6).toString('hex')}.part`;
  const out = createWriteStream(part, { flags: 'wx', mode: 0o600 });
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > maxBytes) throw new Error(`GET ${url}: more than ${maxBytes} bytes, stopped`);
      hash.update(chunk);
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    out.end();
    await finished(out);
    const got = hash.digest('hex');
    if (got !== sha256) throw new Error(`GET ${url}: sha256 is ${got}, the Package declares ${sha256}`);
    await rename(part, file);
    return file;
  } catch (e) {
    out.destroy();
    await rm(part, { force: true });
    if (signal.aborted)
      throw new Error(`GET ${url}: not finished within ${opts.timeoutMs ?? DEB_FETCH_TIMEOUT_MS} ms`);
    throw e;
  }
}

function timedOut(url: string, timeoutMs = DEB_FETCH_TIMEOUT_MS): Error {
  return new Error(`GET ${url}: not finished within ${timeoutMs} ms`);
}
