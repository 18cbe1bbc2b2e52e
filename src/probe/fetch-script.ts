import { HOST_FUNCTIONS, parentOf } from '../apply/apply-scripts.js';
import { DesiredStateError, ProtocolError } from '../core/errors.js';
import { quoteArg } from '../ssh/quote.js';

/** One file's content as fetched for a diff or a merge; never more than the size bound. */
export type FetchedFile =
  | { path: string; kind: 'content'; content: Buffer }
  | { path: string; kind: 'too-large' }
  | { path: string; kind: 'missing' }
  /** A directory, symlink, device...: there is no content to show (symlinks are not followed). */
  | { path: string; kind: 'not-file' }
  | { path: string; kind: 'unreadable' };

/**
 * Builds the sh script that prints the content of `paths` (pure): per path one line `content I BASE64`
 * (at most maxBytes + 1 bytes read, so an oversized file shows as too large without being read whole),
 * `missing I`, `not-file I` or `unreadable I`, then `end N`. Throws DesiredStateError for a relative path.
 * The read never follows a symlink or waits on a FIFO swapped in after the test (dd's O_NOFOLLOW|O_NONBLOCK),
 * and below a directory a user can change it is done as that user (hostop_writer), so no swapped name makes
 * root read another file into a diff.
 */
export function buildFetchScript(paths: string[], maxBytes: number): string {
  const lines = ['set -f', HOST_FUNCTIONS];
  paths.forEach((p, i) => {
    if (!p.startsWith('/')) throw new DesiredStateError(`fetch path must be absolute: ${JSON.stringify(p)}`);
    lines.push(
      `p=${quoteArg(p)}; W=$(hostop_writer '' ${quoteArg(parentOf(p))}) && w=\${W%% *} || w=`,
      `if [ -h "$p" ]; then echo 'not-file ${i}'`,
      `elif [ -f "$p" ] && [ -n "$w" ] && hostop_run "$w" test -r "$p"; then printf 'content ${i} '; ` +
        `hostop_run "$w" dd if="$p" bs=65536 count=${maxBytes + 1} iflag=count_bytes,nofollow,nonblock status=none | base64 -w 0; echo`,
      `elif [ -f "$p" ]; then echo 'unreadable ${i}'`,
      `elif [ -e "$p" ]; then echo 'not-file ${i}'; else echo 'missing ${i}'; fi`,
    );
  });
  lines.push(`echo 'end ${paths.length}'`);
  return `${lines.join('\n')}\n`;
}

/** Parses `buildFetchScript` output (pure). Throws ProtocolError naming the host and line for anything else. */
export function parseFetchOutput(
  host: string,
  paths: string[],
  maxBytes: number,
  stdout: string,
): Record<string, FetchedFile> {
  const lines = stdout.split('\n');
  const fail = (n: number, what: string): never => {
    throw new ProtocolError(`host ${host}: fetch output line ${n + 1}: ${what}`, { host });
  };
  if (lines.length !== paths.length + 2 || lines[lines.length - 1] !== '')
    fail(lines.length - 1, 'wrong number of lines (truncated?)');
  if (lines[paths.length] !== `end ${paths.length}`) fail(paths.length, 'expected the trailer');
  const out: Record<string, FetchedFile> = {};
  paths.forEach((path, i) => {
    const m = /^(content|missing|not-file|unreadable) (\d+)(?: ([A-Za-z0-9+/]*={0,2}))?$/.exec(
      lines[i] as string,
    );
    if (!m || Number(m[2]) !== i || (m[1] === 'content') !== (m[3] !== undefined))
      return fail(i, 'unexpected record');
    if (m[1] !== 'content') {
      out[path] = { path, kind: m[1] as 'missing' | 'not-file' | 'unreadable' };
      return;
    }
    const content = Buffer.from(m[3] as string, 'base64');
    out[path] = content.length > maxBytes ? { path, kind: 'too-large' } : { path, kind: 'content', content };
  });
  return out;
}
