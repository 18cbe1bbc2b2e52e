import { existsSync, unwatchFile, watchFile } from 'node:fs';
import { watch } from 'chokidar';

/** Editor droppings and VCS internals never trigger a reload. */
const IGNORED =
  /(^|[/\\])(\.git|node_modules)([/\\]|$)|(^|[/\\])\.[^/\\]*\.sw[a-p]$|~$|(^|[/\\])#[^/\\]*#$|\.tmp$/;

export interface DirWatcher {
  /** Resolves once the initial scan is done: changes from then on are seen. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Watches paths (directories recursively) and calls `onChange` once per burst of changes, `debounceMs`
 * after the last one. Level-based: it carries no payload; the caller re-reads everything. A path given here is
 * watched even inside `.git` (HEAD's reflog); what is found under a given directory is filtered. A path that does
 * not exist yet (the reflog of a repository without a commit) is polled once a second until it does: chokidar
 * never sees a missing path appear, while `fs.watchFile` calls back when it is created (Node fs docs, watchFile).
 */
export function watchPaths(
  paths: string[],
  debounceMs: number,
  onChange: () => void,
  onError: (e: unknown) => void,
): DirWatcher {
  let timer: NodeJS.Timeout | undefined;
  const w = watch(paths, {
    ignoreInitial: true,
    ignored: (p: string) => !paths.includes(p) && IGNORED.test(p),
    awaitWriteFinish: false,
  });
  const fire = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  w.on('all', fire);
  const missing = paths.filter((p) => !existsSync(p));
  for (const p of missing)
    watchFile(p, { interval: 1000, persistent: false }, (now) => now.mtimeMs > 0 && fire());
  w.on('error', onError);
  const ready = new Promise<void>((r) => w.once('ready', () => r()));
  return {
    ready,
    close: async () => {
      if (timer) clearTimeout(timer);
      for (const p of missing) unwatchFile(p);
      await w.close();
    },
  };
}
