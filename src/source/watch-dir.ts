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
 * watched even inside `.git` (HEAD's reflog); what is found under a given directory is filtered.
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
  w.on('error', onError);
  const ready = new Promise<void>((r) => w.once('ready', () => r()));
  return {
    ready,
    close: async () => {
      if (timer) clearTimeout(timer);
      await w.close();
    },
  };
}
