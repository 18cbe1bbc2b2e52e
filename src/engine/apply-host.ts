import {
  type ActivateItem,
  type ActivateResult,
  type ChmodItem,
  type RestoreItem,
  type StageItem,
  type UnitAction,
  type UnitResult,
  parseActivateOutput,
  parseRestoreOutput,
  parseStageOutput,
} from '../apply/apply-scripts.js';
import { type HostInventory, serializeInventory } from '../apply/host-inventory.js';
import { hostScript } from '../apply/host-scripts.js';
import { type FileChange, type HostPlan, rewritesContent } from '../core/diff.js';
import { ApplyError } from '../core/errors.js';
import type { HostIntent, ServiceIntent } from '../core/model.js';
import { redactText } from '../core/redact.js';
import { readJsonField, waitFieldChanged, waitHealthy } from './health.js';
import type { HostExecutor, RequestOptions } from './host-executor.js';
import type { ResourceOutcome } from './outcome.js';

export interface ApplyOptions {
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

type Ref = { kind: string; name: string };
const key = (r: Ref) => `${r.kind}/${r.name}`;

/** Each resource's verdict so far: a failure is never overwritten by a later success of another file. */
class Verdicts {
  readonly byResource = new Map<string, ResourceOutcome>();

  note(r: Ref, o: Omit<ResourceOutcome, 'kind' | 'name'>): void {
    const prior = this.byResource.get(key(r));
    if (!prior || prior.result === 'applied' || prior.result === 'pruned')
      this.byResource.set(key(r), { kind: r.kind, name: r.name, ...o });
  }

  /** Replaces whatever was noted (a rollback is the last word). */
  set(r: Ref, o: Omit<ResourceOutcome, 'kind' | 'name'>): void {
    this.byResource.set(key(r), { kind: r.kind, name: r.name, ...o });
  }
}

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
  const req = { timeoutMs: opts.requestTimeoutMs, signal: opts.signal };
  const verdicts = new Verdicts();
  const failed = await stage(conn, plan, req, verdicts);
  const change = activation(plan, inventory, failed);
  const proofs = await readReloadProofs(conn, change.units, intent, opts);
  const activated = await activate(conn, change, req, verdicts);
  if (change.prunes.length) await prune(conn, change, inventory, req, verdicts);
  const rolledBack = activated
    ? await confirmUnits(conn, intent, change, activated, proofs, inventory, opts, verdicts)
    : false;
  return { resources: [...verdicts.byResource.values()], inventory: change.next, rolledBack };
}

/** 1. Writes and validates every candidate; returns the resources with a file that failed. */
async function stage(
  conn: HostExecutor,
  plan: HostPlan,
  req: RequestOptions,
  verdicts: Verdicts,
): Promise<Set<string>> {
  const writes = plan.files.filter(rewritesContent);
  const failed = new Set<string>();
  if (writes.length === 0) return failed;
  const items: StageItem[] = writes.map((f) => ({ ...f.intent!, path: f.path }));
  const out = await conn.run(hostScript({ op: 'stage', items }), req);
  const results = parseStageOutput(out.stdout.toString('utf8'), items.length, conn.host.name);
  writes.forEach((f, i) => {
    const r = results[i]!;
    const secrets = f.intent!.secrets;
    if (r.written !== 0) {
      failed.add(key(f.resource));
      verdicts.note(f.resource, {
        result: 'failed',
        reason: 'StageFailed',
        message: redactText(`could not write ${f.path}: ${r.output.trim()}`, secrets),
      });
    } else if (r.validatorCode !== undefined && r.validatorCode !== 0) {
      failed.add(key(f.resource));
      const why =
        r.validatorCode === 124
          ? `validator timed out after ${f.intent!.validate!.timeoutMs} ms`
          : `validator exited ${r.validatorCode}`;
      verdicts.note(f.resource, {
        result: 'validation-failed',
        reason: 'ValidationFailed',
        message: redactText(`${f.path}: ${why}: ${r.output.trim()}`, secrets),
      });
    }
  });
  return failed;
}

/** What the activate script is to do, and the inventory it records (pure). */
interface Activation {
  /** Validated candidates to rename over their targets. */
  activate: FileChange[];
  /** Candidates of failed resources, to remove. */
  leftovers: FileChange[];
  chmods: ChmodItem[];
  prunes: FileChange[];
  items: ActivateItem[];
  units: UnitAction[];
  daemonReload: boolean;
  next: HostInventory;
}

/** 2. Decides what activates, what is fixed in place or pruned, the unit actions and the next inventory. */
function activation(plan: HostPlan, inventory: HostInventory, failed: Set<string>): Activation {
  const writes = plan.files.filter(rewritesContent);
  const activate = writes.filter((f) => !failed.has(key(f.resource)));
  const leftovers = writes.filter((f) => failed.has(key(f.resource)));
  const chmods: ChmodItem[] = plan.files
    .filter((f) => f.action === 'update' && !rewritesContent(f) && !failed.has(key(f.resource)))
    .map((f) => ({ path: f.path, mode: f.intent!.mode, owner: f.intent!.owner, group: f.intent!.group }));
  // A resource whose new files failed keeps its old ones too: pruning them now would leave it with neither.
  const prunes = plan.files.filter((f) => f.action === 'delete' && !failed.has(key(f.resource)));
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
  for (const f of prunes) delete next.files[f.path];
  return {
    activate,
    leftovers,
    chmods,
    prunes,
    items: activate.map((f) => ({ path: f.path, keepOriginal: inventory.files[f.path]?.original ?? true })),
    units: unitActions(plan, failed, activate),
    daemonReload:
      activate.some((f) => f.intent!.daemonReload) || prunes.some((f) => f.path.startsWith('/etc/systemd/')),
    next,
  };
}

/** Runs the activate script (when there is anything to do) and notes each rename's verdict. */
async function activate(
  conn: HostExecutor,
  c: Activation,
  req: RequestOptions,
  verdicts: Verdicts,
): Promise<ActivateResult | undefined> {
  if (!(c.activate.length || c.chmods.length || c.units.length || c.prunes.length || c.leftovers.length))
    return undefined;
  const script = hostScript({
    op: 'activate',
    items: c.items,
    change: { inventory: serializeInventory(c.next), daemonReload: c.daemonReload, units: c.units },
    chmods: c.chmods,
    unstage: c.leftovers.map((f) => f.path),
  });
  const out = await conn.run(script, req);
  const activated = parseActivateOutput(out.stdout.toString('utf8'), c.items.length, conn.host.name);
  c.activate.forEach((f, i) => {
    if (activated.activated[i]!.code !== 0)
      verdicts.note(f.resource, {
        result: 'failed',
        reason: 'ActivateFailed',
        message: `could not replace ${f.path} (a directory in the way?)`,
      });
    else verdicts.note(f.resource, { result: 'applied' });
  });
  return activated;
}

/**
 * 3. Confirms each unit action took effect (restarted, reloaded, healthy); a unit that failed after its files
 * changed gets those files back and a restart. Returns whether anything was rolled back.
 */
async function confirmUnits(
  conn: HostExecutor,
  intent: HostIntent,
  c: Activation,
  activated: ActivateResult,
  proofs: Map<string, string>,
  inventory: HostInventory,
  opts: ApplyOptions,
  verdicts: Verdicts,
): Promise<boolean> {
  let rolledBack = false;
  for (const [i, u] of c.units.entries()) {
    const svc = intent.services.find((s) => s.unit === u.unit)!;
    const failure = await activationFailure(conn, u, activated.units[i]!, svc, proofs.get(u.unit), opts);
    if (!failure) continue;
    const culprits = c.activate.filter(
      (f, j) => activated.activated[j]!.code === 0 && f.intent!.notify.includes(u.unit),
    );
    if (culprits.length === 0) {
      verdicts.note(svc.resource, {
        result: 'failed',
        reason: failure.reason,
        message: `${u.unit}: ${failure.message}`,
      });
      continue;
    }
    await rollback(conn, culprits, activated, c, svc, inventory, opts);
    rolledBack = true;
    const after = svc.health ? await waitHealthy(conn, svc.health, opts.signal) : undefined;
    for (const f of culprits) {
      verdicts.set(f.resource, {
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
  return rolledBack;
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
  c: Activation,
  before: HostInventory,
  req: RequestOptions,
  verdicts: Verdicts,
): Promise<void> {
  const items: RestoreItem[] = c.prunes.map((f) => ({
    path: f.path,
    existed: before.files[f.path]?.original ?? false,
    from: 'original',
  }));
  const change = { inventory: serializeInventory(c.next), daemonReload: false, units: [] };
  const res = await conn.run(hostScript({ op: 'restore', items, change }), req);
  const out = parseRestoreOutput(res.stdout.toString('utf8'), conn.host.name);
  c.prunes.forEach((f, i) => {
    if (out.restored[i] === 0)
      verdicts.note(f.resource, {
        result: 'pruned',
        message: items[i]!.existed ? `restored the original ${f.path}` : `deleted ${f.path}`,
      });
    else
      verdicts.note(f.resource, {
        result: 'failed',
        reason: 'PruneFailed',
        message: `could not remove ${f.path}`,
      });
  });
}

/** Puts the culprits' backups back (or removes what was new), records that, and restarts the unit. */
async function rollback(
  conn: HostExecutor,
  culprits: FileChange[],
  activated: ActivateResult,
  c: Activation,
  svc: ServiceIntent,
  before: HostInventory,
  opts: ApplyOptions,
): Promise<void> {
  const items: RestoreItem[] = culprits.map((f) => ({
    path: f.path,
    existed: activated.activated[c.activate.indexOf(f)]!.existed,
    from: 'backup',
  }));
  for (const f of culprits) {
    if (before.files[f.path]) c.next.files[f.path] = before.files[f.path]!;
    else delete c.next.files[f.path];
  }
  const change = {
    inventory: serializeInventory(c.next),
    daemonReload: culprits.some((f) => f.intent!.daemonReload),
    units: [{ unit: svc.unit, action: 'restart' as const }],
  };
  const req = { timeoutMs: opts.requestTimeoutMs, signal: opts.signal };
  const res = await conn.run(hostScript({ op: 'restore', items, change }), req);
  const out = parseRestoreOutput(res.stdout.toString('utf8'), conn.host.name);
  const bad = out.restored.findIndex((code) => code !== 0);
  if (bad >= 0) {
    throw new ApplyError(
      'RollbackFailed',
      `could not restore ${items[bad]!.path} from its backup; the host needs attention`,
      false,
      { host: conn.host.name },
    );
  }
}
