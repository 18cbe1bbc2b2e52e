import {
  type ActivateItem,
  type ChmodItem,
  type RestoreItem,
  type StageItem,
  type UnitAction,
  type UnitResult,
  activateScript,
  parseActivateOutput,
  parseRestoreOutput,
  parseStageOutput,
  restoreScript,
  stageScript,
} from '../apply/apply-scripts.js';
import { type HostInventory, serializeInventory } from '../apply/host-inventory.js';
import { type FileChange, type HostPlan, rewritesContent } from '../core/diff.js';
import { ApplyError } from '../core/errors.js';
import type { HostIntent, ServiceIntent } from '../core/model.js';
import { redactText } from '../core/redact.js';
import { readJsonField, waitFieldChanged, waitHealthy } from './health.js';
import type { HostExecutor } from './host-executor.js';
import type { ResourceOutcome } from './outcome.js';

export interface ApplyOptions {
  stateRoot: string;
  /** Deadline of each script round trip (stage includes the validators). */
  requestTimeoutMs: number;
  signal?: AbortSignal;
}

export interface ApplyResult {
  resources: ResourceOutcome[];
  /** The inventory now on the host. */
  inventory: HostInventory;
  rolledBack: boolean;
}

const key = (r: { kind: string; name: string }) => `${r.kind}/${r.name}`;

/**
 * Converges one host to its plan, in the order that keeps it safe: stage + validate every candidate beside its
 * target; activate (backup, atomic rename) only resources whose every file validated; run each unit action once;
 * wait for health; on a failed health check restore every file of that change and restart again. Never leaves a
 * partially written file at a target path: candidates are complete before the rename, and a lost connection
 * before the rename leaves only a temp file that the next pass removes.
 * Rejects only for transport/protocol failures (the host state is then old or new per file, never torn).
 */
export async function applyPlan(
  conn: HostExecutor,
  intent: HostIntent,
  plan: HostPlan,
  inventory: HostInventory,
  opts: ApplyOptions,
): Promise<ApplyResult> {
  const host = intent.host.name;
  const req = { timeoutMs: opts.requestTimeoutMs, signal: opts.signal };
  const outcomes = new Map<string, ResourceOutcome>();
  const note = (r: { kind: string; name: string }, o: Omit<ResourceOutcome, 'kind' | 'name'>) => {
    const prior = outcomes.get(key(r));
    if (!prior || prior.result === 'applied' || prior.result === 'pruned')
      outcomes.set(key(r), { kind: r.kind, name: r.name, ...o });
  };

  // 1. Stage and validate.
  const writes = plan.files.filter(rewritesContent);
  const staged: StageItem[] = writes.map((f) => ({ ...f.intent!, path: f.path }));
  const stage = staged.length
    ? parseStageOutput(
        (await conn.run(stageScript(staged, opts.stateRoot), req)).stdout.toString('utf8'),
        staged.length,
        host,
      )
    : [];
  const failedResources = new Set<string>();
  writes.forEach((f, i) => {
    const r = stage[i]!;
    const secrets = f.intent!.secrets;
    if (r.written !== 0) {
      failedResources.add(key(f.resource));
      note(f.resource, {
        result: 'failed',
        reason: 'StageFailed',
        message: redactText(`could not write ${f.path}: ${r.output.trim()}`, secrets),
      });
    } else if (r.validatorCode !== undefined && r.validatorCode !== 0) {
      failedResources.add(key(f.resource));
      const why =
        r.validatorCode === 124
          ? `validator timed out after ${f.intent!.validate!.timeoutMs} ms`
          : `validator exited ${r.validatorCode}`;
      note(f.resource, {
        result: 'validation-failed',
        reason: 'ValidationFailed',
        message: redactText(`${f.path}: ${why}: ${r.output.trim()}`, secrets),
      });
    }
  });

  // 2. Activate what validated, fix modes/owners, prune, record the inventory, act on units once.
  const activate = writes.filter((f) => !failedResources.has(key(f.resource)));
  const leftovers = writes.filter((f) => failedResources.has(key(f.resource)));
  const chmods: ChmodItem[] = plan.files
    .filter((f) => f.action === 'update' && !rewritesContent(f) && !failedResources.has(key(f.resource)))
    .map((f) => ({ path: f.path, mode: f.intent!.mode, owner: f.intent!.owner, group: f.intent!.group }));
  // A resource whose new files failed keeps its old ones too: pruning them now would leave it with neither.
  const prunes = plan.files.filter((f) => f.action === 'delete' && !failedResources.has(key(f.resource)));
  const next: HostInventory = { version: 1, files: { ...inventory.files } };
  // `original`: a file was there before hostop first managed the path. A path hostop created has none, so
  // pruning deletes it; otherwise pruning puts the original back (or leaves it, if hostop never rewrote it).
  const own = (f: FileChange, existedBefore: boolean) => {
    // A file hostop only adds to is not hostop's: never in the inventory, so never pruned or restored.
    if (f.intent?.merge) return;
    next.files[f.path] = {
      kind: f.resource.kind,
      name: f.resource.name,
      original: inventory.files[f.path]?.original ?? existedBefore,
    };
  };
  for (const f of activate) own(f, f.action === 'update');
  for (const f of plan.files)
    if (f.action === 'unchanged' || (f.action === 'update' && !rewritesContent(f))) own(f, true);
  const items: ActivateItem[] = activate.map((f) => ({
    path: f.path,
    keepOriginal: inventory.files[f.path]?.original ?? true,
  }));
  for (const f of prunes) delete next.files[f.path];
  const units = unitActions(plan, failedResources, activate);
  const daemonReload =
    activate.some((f) => f.intent!.daemonReload) || prunes.some((f) => f.path.startsWith('/etc/systemd/'));
  const script = activateScript(items, {
    stateRoot: opts.stateRoot,
    inventory: serializeInventory(next),
    daemonReload,
    units,
    chmods,
    unstage: leftovers.map((f) => f.path),
  });
  const proofs = await readReloadProofs(conn, units, intent, opts);
  const activated =
    activate.length || chmods.length || units.length || prunes.length || leftovers.length
      ? parseActivateOutput((await conn.run(script, req)).stdout.toString('utf8'), items.length, host)
      : undefined;
  activate.forEach((f, i) => {
    const a = activated!.activated[i]!;
    if (a.code !== 0)
      note(f.resource, {
        result: 'failed',
        reason: 'ActivateFailed',
        message: `could not replace ${f.path} (a directory in the way?)`,
      });
    else note(f.resource, { result: 'applied' });
  });
  if (prunes.length) await prune(conn, prunes, inventory, next, opts, req, note);

  // 3. Activation confirmed, health, and rollback of what a failed unit depends on.
  let rolledBack = false;
  for (const [i, u] of units.entries()) {
    const svc = intent.services.find((s) => s.unit === u.unit)!;
    const failure = await activationFailure(conn, u, activated!.units[i]!, svc, proofs.get(u.unit), opts);
    if (!failure) continue;
    const culprits = activate.filter(
      (f, j) => activated!.activated[j]!.code === 0 && f.intent!.notify.includes(u.unit),
    );
    if (culprits.length === 0) {
      note(svc.resource, {
        result: 'failed',
        reason: failure.reason,
        message: `${u.unit}: ${failure.message}`,
      });
      continue;
    }
    await rollback(conn, culprits, activated!, activate, svc, inventory, next, opts, req);
    rolledBack = true;
    const after = svc.health ? await waitHealthy(conn, svc.health, opts.signal) : undefined;
    for (const f of culprits) {
      outcomes.set(key(f.resource), {
        kind: f.resource.kind,
        name: f.resource.name,
        result: 'rolled-back',
        reason: failure.reason,
        message:
          `${u.unit}: ${failure.message}; restored the previous files and restarted it` +
          (after === undefined
            ? ''
            : after.ok
              ? `; ${u.unit} is healthy again`
              : `, but ${u.unit} is still unhealthy: ${after.message}`),
      });
    }
  }
  return { resources: [...outcomes.values()], inventory: next, rolledBack };
}

/** Why a unit action did not leave the unit running its new config, or undefined when it did. */
async function activationFailure(
  conn: HostExecutor,
  u: UnitAction,
  result: UnitResult,
  svc: ServiceIntent,
  proofBefore: string | undefined,
  opts: ApplyOptions,
): Promise<{ reason: string; message: string } | undefined> {
  if (result.code !== 0) {
    const said = result.output.trim().split('\n')[0] ?? '';
    return {
      reason: u.action === 'reload' ? 'ReloadFailed' : 'UnitActionFailed',
      message: `systemctl ${u.action} exited ${result.code}${said ? ` (${said})` : ''}, so the new config is not live`,
    };
  }
  if (u.action === 'restart' && result.mainStartAfter === result.mainStartBefore) {
    return { reason: 'NotRestarted', message: 'systemctl restart started no new main process' };
  }
  if (u.action === 'reload' && svc.reloadProof && proofBefore !== undefined) {
    const changed = await waitFieldChanged(conn, svc.reloadProof, proofBefore, opts.signal);
    if (!changed.ok) return { reason: 'ReloadNotApplied', message: changed.message };
  }
  if (u.action === 'stop' || u.action === 'enable' || u.action === 'disable' || !svc.health) return undefined;
  const health = await waitHealthy(conn, svc.health, opts.signal);
  return health.ok
    ? undefined
    : {
        reason: 'HealthCheckFailed',
        message: `failed its health check after ${u.action} (${health.message})`,
      };
}

/** The reload proof of each unit about to be reloaded, read before anything changes (absent: unreadable). */
async function readReloadProofs(
  conn: HostExecutor,
  units: UnitAction[],
  intent: HostIntent,
  opts: ApplyOptions,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const u of units) {
    const proof = intent.services.find((s) => s.unit === u.unit)?.reloadProof;
    if (u.action !== 'reload' || !proof) continue;
    const value = await readJsonField(conn, proof, opts.signal);
    if (value !== undefined) out.set(u.unit, value);
  }
  return out;
}

/** Each unit's actions in a safe order (enable before start, daemon-reload is separate), once per unit. */
function unitActions(plan: HostPlan, failed: Set<string>, activated: FileChange[]): UnitAction[] {
  const out: UnitAction[] = [];
  for (const s of plan.services) {
    for (const action of s.actions) {
      if (action === 'reload' || action === 'restart') {
        // Only files that will really be activated may trigger the reload.
        if (!activated.some((f) => f.intent!.notify.includes(s.unit))) continue;
      }
      if (failed.has(key(s.resource)) && action !== 'enable' && action !== 'disable') continue;
      out.push({ unit: s.unit, action });
    }
  }
  return out;
}

async function prune(
  conn: HostExecutor,
  prunes: FileChange[],
  before: HostInventory,
  next: HostInventory,
  opts: ApplyOptions,
  req: { timeoutMs: number; signal?: AbortSignal },
  note: (r: { kind: string; name: string }, o: Omit<ResourceOutcome, 'kind' | 'name'>) => void,
): Promise<void> {
  const items: RestoreItem[] = prunes.map((f) => ({
    path: f.path,
    existed: before.files[f.path]?.original ?? false,
    from: 'original',
  }));
  const out = parseRestoreOutput(
    (
      await conn.run(
        restoreScript(items, {
          stateRoot: opts.stateRoot,
          inventory: serializeInventory(next),
          daemonReload: false,
          units: [],
        }),
        req,
      )
    ).stdout.toString('utf8'),
    conn.host.name,
  );
  prunes.forEach((f, i) => {
    if (out.restored[i] === 0)
      note(f.resource, {
        result: 'pruned',
        message: items[i]!.existed ? `restored the original ${f.path}` : `deleted ${f.path}`,
      });
    else note(f.resource, { result: 'failed', reason: 'PruneFailed', message: `could not remove ${f.path}` });
  });
}

async function rollback(
  conn: HostExecutor,
  culprits: FileChange[],
  activated: ReturnType<typeof parseActivateOutput>,
  activate: FileChange[],
  svc: ServiceIntent,
  before: HostInventory,
  next: HostInventory,
  opts: ApplyOptions,
  req: { timeoutMs: number; signal?: AbortSignal },
): Promise<void> {
  const items: RestoreItem[] = culprits.map((f) => ({
    path: f.path,
    existed: activated.activated[activate.indexOf(f)]!.existed,
    from: 'backup',
  }));
  for (const f of culprits) {
    if (before.files[f.path]) next.files[f.path] = before.files[f.path]!;
    else delete next.files[f.path];
  }
  const script = restoreScript(items, {
    stateRoot: opts.stateRoot,
    inventory: serializeInventory(next),
    daemonReload: culprits.some((f) => f.intent!.daemonReload),
    units: [{ unit: svc.unit, action: 'restart' }],
  });
  const out = parseRestoreOutput((await conn.run(script, req)).stdout.toString('utf8'), conn.host.name);
  const bad = out.restored.findIndex((c) => c !== 0);
  if (bad >= 0) {
    throw new ApplyError(
      'RollbackFailed',
      `could not restore ${items[bad]!.path} from its backup; the host needs attention`,
      false,
      {
        host: conn.host.name,
      },
    );
  }
}
