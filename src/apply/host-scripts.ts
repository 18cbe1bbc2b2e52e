import { buildFetchScript } from '../probe/fetch-script.js';
import { DPKG_STATUS, type ProbeRequest, buildProbeScript } from '../probe/probe-script.js';
import { type WatchRequest, buildWatchScript } from '../probe/watch-script.js';
import {
  type ActivateItem,
  type ChmodItem,
  DEFAULT_STATE_ROOT,
  type Fence,
  type FenceStamp,
  type RestoreItem,
  type StageItem,
  type UnitAction,
  activateScript,
  inventoryPath,
  raiseFenceScript,
  restoreScript,
  stageScript,
  tempPathFor,
  unstageScript,
} from './apply-scripts.js';
import { type PackageStep, debChunkScript, debPresenceScript, installScript } from './package-scripts.js';

/**
 * What a script asks of a host, as data. The shell text is built from it here and nowhere else; the real
 * executor runs the text, the in-memory fake of the unit tests (test/support/fake-host.ts) acts on the data.
 */
export type HostRequest =
  | { op: 'probe'; probe: ProbeRequest }
  | { op: 'fetch'; paths: string[]; maxBytes: number }
  | ChangeRequest
  /** Which of these `.deb`s (by sha256) the host stores already. */
  | { op: 'debs'; shas: string[] }
  /** One chunk of a `.deb` upload; the last one checks the hash and stores it. */
  | { op: 'upload'; sha256: string; nonce: string; chunk: Buffer; first: boolean; last: boolean }
  /** Raises the host's fence to this token and does nothing else (a daemon's first act on a host it claimed). */
  | { op: 'fence'; fence: Fence }
  /** Long-lived, on its own channel (HostExecutor.stream): reports what may have changed. */
  | { op: 'watch'; watch: WatchRequest };

/**
 * The requests that change a host. Each runs under the host lock and, when `fence` is set (several daemons on
 * etcd), only while the host has seen no higher fencing token (see changeScriptHead).
 */
export type ChangeRequest = (
  | { op: 'stage'; items: StageItem[] }
  | { op: 'activate'; items: ActivateItem[]; change: HostChange; chmods: ChmodItem[]; unstage: string[] }
  | { op: 'restore'; items: RestoreItem[]; change: HostChange }
  | { op: 'unstage'; paths: string[] }
  /** Package manager calls, in order, under the host lock. */
  | { op: 'install'; steps: PackageStep[] }
) & { fence?: Fence };

const CHANGE_OPS: ReadonlySet<string> = new Set(['stage', 'activate', 'restore', 'unstage', 'install']);

/** Whether a request changes the host (and so must carry the fence of a daemon that shares the fleet). */
export function isChangeRequest(r: HostRequest): r is ChangeRequest {
  return CHANGE_OPS.has(r.op);
}

/** What every changing script ends with: the inventory it records, then the unit actions. */
export interface HostChange {
  /** The serialized inventory to write. */
  inventory: string;
  daemonReload: boolean;
  units: UnitAction[];
}

/** One script for a host: its shell text and the request it was built from. */
export interface HostScript {
  readonly text: string;
  readonly request: HostRequest;
}

/**
 * The host's layout, owned here: hostop's state directory, the inventory in it, the candidate beside each
 * target (backups and originals live under the state root too; see apply-scripts.ts).
 */
export const hostLayout = {
  stateRoot: DEFAULT_STATE_ROOT,
  inventory: inventoryPath(DEFAULT_STATE_ROOT),
  candidate: tempPathFor,
  /** Where the host's dpkg records what is installed: rewritten (renamed over) by every dpkg run. */
  dpkgStatus: DPKG_STATUS,
} as const;

/** Builds the script of a request, for the host layout above (pure). */
export function hostScript(request: HostRequest): HostScript {
  return { text: scriptText(request), request };
}

function scriptText(r: HostRequest): string {
  const root = hostLayout.stateRoot;
  switch (r.op) {
    case 'probe':
      return buildProbeScript(r.probe);
    case 'fetch':
      return buildFetchScript(r.paths, r.maxBytes);
    case 'stage':
      return stageScript(r.items, root, stamp(r));
    case 'activate':
      return activateScript(r.items, {
        stateRoot: root,
        ...r.change,
        chmods: r.chmods,
        unstage: r.unstage,
        fence: stamp(r),
      });
    case 'restore':
      return restoreScript(r.items, { stateRoot: root, ...r.change, fence: stamp(r) });
    case 'unstage':
      return unstageScript(r.paths, root, stamp(r));
    case 'debs':
      return debPresenceScript(r.shas, root);
    case 'upload':
      return debChunkScript(root, r.sha256, r.nonce, r.chunk, r);
    case 'install':
      return installScript(r.steps, root, stamp(r));
    case 'fence':
      return raiseFenceScript(root, { ...r.fence, op: 'fence' });
    case 'watch':
      return buildWatchScript(r.watch);
  }
}

function stamp(r: ChangeRequest): FenceStamp | undefined {
  return r.fence && { ...r.fence, op: r.op };
}
