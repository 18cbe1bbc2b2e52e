import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { type BuildResult, buildSnapshot } from '../core/build-snapshot.js';
import type { Problem, SourceFile } from '../core/model.js';
import { kindByName } from '../kinds/registry.js';
import { kindSchemas } from './crds.js';
import { checkPackageFiles } from './package-files.js';
import { readDesiredStateFiles } from './read-files.js';

export interface LoadOptions {
  /** A file or directory of Host resources that replace same-named hosts (e.g. `.lab/hosts.yaml`). */
  inventory?: string;
  /** The desired state's revision (`gitRevision`, read beforehand: git runs asynchronously). */
  revision?: string;
}

export interface LoadResult extends BuildResult {
  /** The files read, desired state then inventory (what a saved plan digests): empty when unreadable. */
  sources: SourceFile[];
}

/**
 * The loader's boundary: reads the directory (and the inventory) from disk, then validates purely
 * (`buildSnapshot`). Never throws for bad input; an unreadable directory is one problem.
 */
export function loadDesiredState(dir: string, opts: LoadOptions = {}): LoadResult {
  try {
    const files = readDesiredStateFiles(dir);
    const inventory = opts.inventory ? readDesiredStateFiles(opts.inventory) : undefined;
    if (files.length === 0)
      return { problems: [unreadable(dir, 'no *.yaml or *.yml files found')], sources: [] };
    const sources = [...files, ...(inventory ?? [])];
    return {
      ...checkPackageFiles(
        dir,
        buildSnapshot(files, kindSchemas(), kindByName, { inventory, revision: opts.revision }),
      ),
      sources,
    };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file or directory'
        : code === 'EACCES'
          ? 'permission denied'
          : String((e as Error).message);
    return { problems: [unreadable(opts.inventory && code ? opts.inventory : dir, why)], sources: [] };
  }
}

function unreadable(file: string, message: string): Problem {
  return { severity: 'error', file, path: '', message: `cannot read desired state: ${message}` };
}

/**
 * Repository settings that would make the daemon's own git calls run a program: `core.fsmonitor` (run by
 * `git status` on every call, git-config(1)) and hooks (`git pull` runs post-merge). The checkout's
 * `.git/config` is otherwise trusted like the daemon's own files.
 */
export const GIT_NO_HOOKS = ['-c', 'core.fsmonitor=false', '-c', 'core.hooksPath=/dev/null'];

/** Runs git in `dir`, never its hooks or fsmonitor; its standard output, trimmed. */
const git = async (dir: string, args: string[]) =>
  (await run('git', [...GIT_NO_HOOKS, ...args], { cwd: dir, encoding: 'utf8', timeout: 5000 })).stdout.trim();

/** `<sha>` or `<sha>-dirty` when `dir` is inside a git work tree; undefined otherwise (or without git). */
export async function gitRevision(dir: string): Promise<string | undefined> {
  try {
    const sha = await git(dir, ['rev-parse', 'HEAD']);
    // --no-optional-locks: a plain `git status` refreshes the index under .git/index.lock, so the daemon's
    // reload made a commit that the operator ran at that moment fail with "index.lock: File exists".
    const dirty = (await git(dir, ['--no-optional-locks', 'status', '--porcelain', '--', '.'])) !== '';
    return dirty ? `${sha}-dirty` : sha;
  } catch {
    return undefined;
  }
}

/**
 * HEAD's reflog (`<git-dir>/logs/HEAD`) when `dir` is inside a git work tree: git appends a line to it for every
 * commit, pull, reset or checkout (core.logAllRefUpdates is on by default in a work tree, git-config(1)), just
 * before it moves the ref (files_transaction_finish, refs/files-backend.c). A commit changes no file in the
 * directory once they were written, so this is what tells the daemon that the revision moved.
 */
export async function gitHeadLog(dir: string): Promise<string | undefined> {
  try {
    return resolve(dir, await git(dir, ['rev-parse', '--git-path', 'logs/HEAD']));
  } catch {
    return undefined;
  }
}

const run = promisify(execFile);
