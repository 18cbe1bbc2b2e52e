import { watch } from 'chokidar';

/** Editor droppings and VCS internals never trigger a reload. */
const IGNORED =
  /(^|[/\\])(\.git|node_modules)([/\\]|$)|(^|[/\\])\.[^/\\]*\.sw[a-p]$|~$|(^|[/\\])#[^/\\]*#$|\.tmp$/;

export interface DirWatcher {
  close(): Promise<void>;
}

/**
 * Watches paths (directories recursively) and calls `onChange` once per burst of changes, `debounceMs`
 * after the last one. Level-based: it carries no payload; the caller re-reads everything.
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
    ignored: (p: string) => IGNORED.test(p),
    awaitWriteFinish: false,
  });
  const fire = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  w.on('all', fire);
  w.on('error', onError);
  return {
    close: async () => {
      if (timer) clearTimeout(timer);
      await w.close();
    },
  };
}
