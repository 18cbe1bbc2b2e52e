import { createHash } from 'node:crypto';
import { parseUnstageOutput } from '../apply/apply-scripts.js';
import { EMPTY_INVENTORY, type HostInventory, parseInventory } from '../apply/host-inventory.js';
import { hostLayout, hostScript } from '../apply/host-scripts.js';
import { type HostPlan, diffHost, planIsEmpty } from '../core/diff.js';
import { HostopError, describeError } from '../core/errors.js';
import type { HostIntent, ObservedHost } from '../core/model.js';
import { redactText } from '../core/redact.js';
import { afterPackages, heldPackages, heldResources, resolveMerges } from '../core/versions.js';
import { type ProbeCache, fetchFiles, probeHost } from '../probe/probe-host.js';
import { invocationLink } from '../probe/watch-script.js';
import { tcpReachable } from '../ssh/tunnel-http.js';
import { applyPlan } from './apply-host.js';
import { applyPackages } from './apply-packages.js';
import { defaultPackageCache } from './deb-cache.js';
import type { ExecutorSource, HostExecutor } from './host-executor.js';
import type { CheckOutcome, HostOutcome, ResourceOutcome } from './outcome.js';

export interface PassOptions {
  /** Converge (apply) or only report (plan / detect mode). */
  apply: boolean;
  /** Delete or restore files whose resource left the desired state. */
  prune: boolean;
  /** Fetch contents of changed files so the plan can show a unified diff. */
  wantDiffs: boolean;
  probeTimeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Sees the host as its first probe found it, with the plan made from that; a reason returned refuses the pass
   * (PlanStale) before anything is written. A saved plan's check (`hostop apply FILE`), or where it is recorded.
   */
  admit?: (intent: HostIntent, observed: ObservedHost, plan: HostPlan) => string | undefined;
  /** Where `.deb`s of URL sources are kept once fetched (default: `defaultPackageCache()`). */
  packageCache?: string;
}

/** Deadline of one changing script's round trip (stage includes the validators). */
const REQUEST_TIMEOUT_MS = 120_000;
/**
 * Deadline of a whole pass (probe, apply, health waits, verifying probe), so that no pass can hold its host's
 * slot in the work queue for ever, whatever one step does.
 */
export const PASS_TIMEOUT_MS = 600_000;

/** What a long-lived caller (the daemon) keeps per host between passes, so warm passes stay one round trip. */
export interface HostMemory {
  probe: ProbeCache;
  /** The inventory last read or written, keyed by its hash on the host. */
  inventory?: { sha256: string; inventory: HostInventory };
  /** Files whose bytes differ from the rendered ones but whose parsed value is the same: path -> observed hash. */
  sameValue: Map<string, string>;
}

export function newHostMemory(): HostMemory {
  return { probe: new Map(), sameValue: new Map() };
}

/**
 * One level-triggered pass over one host: probe, read the inventory, diff, and (when `apply`) converge and
 * re-probe. Never rejects: failures are outcomes (unreachable, failed) with a typed code.
 */
export async function reconcileHost(
  pool: ExecutorSource,
  intent: HostIntent,
  memory: HostMemory,
  passOpts: PassOptions,
): Promise<HostOutcome> {
  const deadline = AbortSignal.timeout(PASS_TIMEOUT_MS);
  const opts = {
    ...passOpts,
    signal: passOpts.signal ? AbortSignal.any([passOpts.signal, deadline]) : deadline,
  };
  const started = Date.now();
  const host = intent.host.name;
  let plan: HostPlan | undefined;
  let conn: HostExecutor | undefined;
  try {
    conn = await pool.connection(intent.host, opts.signal);
    const first = await observe(conn, intent, memory, opts);
    plan = first.plan;
    const refused = opts.admit?.(intent, first.observed, plan);
    if (refused) throw new HostopError('PlanStale', refused, false, { host });
    // Candidates left beside their targets by a pass that lost its connection mid-apply: nothing else removes
    // them when the next pass has nothing to write there (the change was reverted, or already activated).
    if (opts.apply && first.staleTemps.length > 0) {
      const script = hostScript({ op: 'unstage', paths: first.staleTemps });
      const out = await conn.run(script, { timeoutMs: REQUEST_TIMEOUT_MS, signal: opts.signal });
      parseUnstageOutput(out.stdout.toString('utf8'), host);
    }
    const checks = await runChecks(conn, intent, opts);
    if (planIsEmpty(plan)) return done('in-sync', [], checks);
    const drifted = driftedResources(plan);
    if (!opts.apply) return done('drifted', drifted, checks);

    // Packages first: a file's validator or unit may come from one. The host is then observed again, so that
    // what follows is planned for the versions now installed (a resource whose package failed stays held).
    let current = first;
    const packaged = plan.packages.length
      ? await applyPackages(
          conn,
          plan.packages,
          { timeoutMs: REQUEST_TIMEOUT_MS, signal: opts.signal },
          { packageCache: opts.packageCache ?? defaultPackageCache() },
        )
      : [];
    const failedPackages = packaged.filter((r) => r.result === 'failed');
    if (failedPackages.length) return done('degraded', heldForPackages(drifted, failedPackages), checks);
    if (packaged.length) current = await observe(conn, intent, memory, { ...opts, wantDiffs: false });
    const rest = { ...current.plan, packages: [] };
    const applied = planIsEmpty(rest)
      ? { resources: [], rolledBack: false }
      : await applyPlan(conn, current.intent, rest, current.inventory, {
          requestTimeoutMs: REQUEST_TIMEOUT_MS,
          signal: opts.signal,
        });
    memory.inventory = undefined; // rewritten on the host: read it back on the verifying probe
    // Verify, don't trust: Ready means observed.
    const after = await observe(conn, intent, memory, { ...opts, wantDiffs: false });
    const results = mergeResults(drifted, [...packaged, ...applied.resources], after.plan);
    // Drift the first probe did not see appeared while the pass ran (someone's dpkg run, an edit): said as
    // drifted, so that the caller passes over the host again instead of waiting for the next resync.
    const seen = new Set(drifted.map((d) => `${d.kind}/${d.name}`));
    for (const r of driftedResources(after.plan))
      if (r.result === 'drifted' && !seen.has(`${r.kind}/${r.name}`))
        results.push({ ...r, message: `changed while the pass ran: ${r.message}` });
    const converged = planIsEmpty(after.plan);
    const status = applied.rolledBack ? 'rolled-back' : converged ? 'converged' : 'degraded';
    return done(status, results, checks);
  } catch (e) {
    const err = e instanceof HostopError ? e : undefined;
    // A host that stops answering within the deadline may have a dead TCP path that keepalives have not
    // noticed yet: drop the connection so the next pass reconnects (and backs off if the host is down).
    if (err?.code === 'Timeout') conn?.close();
    const transport =
      err?.name === 'TransportError' || err?.code === 'Timeout' || err?.code === 'ConnectionLost';
    return {
      host,
      status: transport && !plan ? 'unreachable' : 'failed',
      plan,
      resources: [],
      checks: [],
      error: {
        code: err?.code ?? 'Error',
        message: redactText(err ? err.message : describeError(e), []),
        retryable: err?.retryable ?? true,
      },
      durationMs: Date.now() - started,
    };
  }

  function done(
    status: HostOutcome['status'],
    resources: ResourceOutcome[],
    checks: CheckOutcome[],
  ): HostOutcome {
    return { host, status, plan, resources, checks, durationMs: Date.now() - started };
  }
}

/** Probe (one round trip when warm), read the inventory if it changed, fetch what the diff needs, diff. */
async function observe(
  conn: HostExecutor,
  intent: HostIntent,
  memory: HostMemory,
  opts: PassOptions,
): Promise<{
  observed: ObservedHost;
  plan: HostPlan;
  inventory: HostInventory;
  /** Targets whose candidate (temp file) a lost pass left beside them. */
  staleTemps: string[];
  /** The intent this pass works with: merged files carry the content they must have now. */
  intent: HostIntent;
}> {
  const inventoryFile = hostLayout.inventory;
  const req = { timeoutMs: opts.probeTimeoutMs ?? 30_000, signal: opts.signal };
  const temps = intent.files.map((f) => hostLayout.candidate(f.path));
  const paths = [...intent.files.map((f) => f.path), ...temps, inventoryFile];
  const units = intent.services.map((s) => s.unit);
  // A host watch reports a unit's start, stop or restart by its invocation link's signature: probe it too.
  paths.push(...units.map(invocationLink));
  // The inventory rides along with the probe until it is known; afterwards its hash says if it changed. Files
  // hostop only adds to come along every time: their content is part of what must be written.
  const merged = intent.files.filter((f) => f.merge).map((f) => f.path);
  const inline = [...(memory.inventory ? [] : [inventoryFile]), ...merged];
  const packages = [
    ...new Set([
      ...(intent.packages ?? []).map((p) => p.name),
      ...intent.versions.flatMap((v) => ('package' in v.source ? [v.source.package] : [])),
    ]),
  ];
  // dpkg renames its status file on every run: a host watch sees a package installed or removed by hand.
  if (intent.packages?.length) paths.push(hostLayout.dpkgStatus);
  const programs = intent.versions.flatMap((v) => ('program' in v.source ? [v.source.program] : []));
  // A text file's bytes are what must be there; a JSON/YAML file may differ in bytes and still be in sync.
  const sizes = Object.fromEntries(
    intent.files
      .filter((f) => f.format === 'text' && !f.merge)
      .map((f) => [f.path, Buffer.byteLength(f.content)]),
  );
  const observed = await probeHost(
    conn,
    { paths, units, inline, packages, programs, sizes },
    memory.probe,
    req,
  );
  const staleTemps = intent.files
    .map((f) => f.path)
    .filter((p) => (observed.files[hostLayout.candidate(p)]?.type ?? 'missing') !== 'missing');
  const inventory = await readInventory(conn, observed, inventoryFile, memory, req);

  const resolved = resolveMerges(intent, observed);
  const pass = resolved.intent;
  const contents: Record<string, string> = {};
  for (const path of merged) {
    const current = observed.contents?.[path];
    if (current !== undefined) contents[path] = current;
  }
  for (const f of pass.files) {
    const sha = observed.files[f.path]?.sha256;
    if (sha && memory.sameValue.get(f.path) === sha) contents[f.path] = f.content;
  }
  const diffOpts = {
    contents,
    managed: inventory.files,
    prune: opts.prune,
    wantDiffs: opts.wantDiffs,
    held: [
      ...heldResources(intent.versions, afterPackages(intent.packages ?? [], observed)),
      ...heldPackages(intent.packages ?? [], observed),
      ...resolved.held,
    ],
  };
  let plan = diffHost(pass, observed, diffOpts);
  if (plan.needsContent.length > 0) {
    Object.assign(contents, await fetchFiles(conn, plan.needsContent, req));
    plan = diffHost(pass, observed, diffOpts);
    for (const f of plan.files) {
      const sha = observed.files[f.path]?.sha256;
      if (f.action === 'unchanged' && sha && contents[f.path] !== undefined)
        memory.sameValue.set(f.path, sha);
    }
  }
  return { observed, plan, inventory, staleTemps, intent: pass };
}

/**
 * The inventory: from memory when its hash on the host is unchanged, else inline from this pass's probe, else
 * (it changed while remembered: another hostop wrote it) read the same way, inline in a probe of nothing else.
 */
async function readInventory(
  conn: HostExecutor,
  observed: ObservedHost,
  path: string,
  memory: HostMemory,
  req: { timeoutMs: number; signal?: AbortSignal },
): Promise<HostInventory> {
  const sha = observed.files[path]?.sha256;
  if (!sha) return EMPTY_INVENTORY;
  if (memory.inventory?.sha256 === sha) return memory.inventory.inventory;
  const text =
    observed.contents?.[path] ??
    (await probeHost(conn, { paths: [], units: [], inline: [path] }, new Map(), req)).contents?.[path] ??
    '';
  const inventory = parseInventory(text, conn.host.name);
  // Keyed by the hash of what was parsed, so a file rewritten between stat and read is read again next time.
  memory.inventory = { sha256: createHash('sha256').update(text).digest('hex'), inventory };
  return inventory;
}

/**
 * Each check as seen from the host. A refused or silent port fails the check; a lost connection or an abort
 * is the host's failure, not the check's, and propagates.
 */
async function runChecks(conn: HostExecutor, intent: HostIntent, opts: PassOptions): Promise<CheckOutcome[]> {
  return Promise.all(
    intent.checks.map(async (c) => {
      const r = await tcpReachable(conn, c.host, c.port, { timeoutMs: c.timeoutMs, signal: opts.signal });
      const where = `${c.host}:${c.port}`;
      return {
        name: c.name,
        resource: c.resource,
        ok: r.reachable,
        message: r.reachable
          ? `${where} reachable from ${intent.host.name}`
          : `${where} not reachable from ${intent.host.name}: ${r.reason}`,
      };
    }),
  );
}

function driftedResources(plan: HostPlan): ResourceOutcome[] {
  const seen = new Map<string, ResourceOutcome>();
  for (const p of plan.packages) {
    const versions = p.from && p.to ? ` ${p.from} → ${p.to}` : ` ${p.to ?? p.from ?? ''}`;
    seen.set(`${p.resource.kind}/${p.resource.name}`, {
      ...p.resource,
      result: 'drifted',
      message: `${p.action} ${p.name}${versions.trimEnd()} (${p.source})`,
    });
  }
  for (const h of plan.held) {
    seen.set(`${h.resource.kind}/${h.resource.name}`, {
      ...h.resource,
      result: 'held',
      reason: h.reason,
      message: h.message,
    });
  }
  for (const f of plan.files) {
    if (f.action === 'unchanged' || seen.has(`${f.resource.kind}/${f.resource.name}`)) continue;
    seen.set(`${f.resource.kind}/${f.resource.name}`, {
      kind: f.resource.kind,
      name: f.resource.name,
      result: 'drifted',
      message: `${f.path}: ${f.action}${f.changed.length ? ` (${f.changed.join(', ')})` : ''}`,
    });
  }
  for (const s of plan.services) {
    const k = `${s.resource.kind}/${s.resource.name}`;
    if (!seen.has(k))
      seen.set(k, {
        kind: s.resource.kind,
        name: s.resource.name,
        result: 'drifted',
        message: `${s.unit}: ${s.actions.join(', ')}`,
      });
  }
  return [...seen.values()];
}

/**
 * A package failed on the host: nothing else is written there in this pass (a config for a binary that is not
 * there, or not at the version it was rendered for, is what the order exists to prevent). hostop cannot tell
 * which resources need which package, so every other resource with a change waits: held, PackageFailed.
 */
function heldForPackages(drifted: ResourceOutcome[], packaged: ResourceOutcome[]): ResourceOutcome[] {
  const failed = packaged.filter((r) => r.result === 'failed').map((r) => `${r.kind}/${r.name}`);
  const own = new Set(packaged.map((r) => `${r.kind}/${r.name}`));
  const waiting = drifted
    .filter((d) => !own.has(`${d.kind}/${d.name}`) && d.result !== 'held')
    .map((d) => ({
      kind: d.kind,
      name: d.name,
      result: 'held' as const,
      reason: 'PackageFailed',
      message: `not applied: ${failed.join(', ')} failed on this host; its other changes wait until it installs (${d.message ?? 'drifted'})`,
    }));
  return [...packaged, ...drifted.filter((d) => d.result === 'held'), ...waiting];
}

/** Apply's own verdict per resource, else "applied" when the re-probe found it converged. */
function mergeResults(
  drifted: ResourceOutcome[],
  applied: ResourceOutcome[],
  after: HostPlan,
): ResourceOutcome[] {
  const still = new Set(driftedResources(after).map((r) => `${r.kind}/${r.name}`));
  // A unit whose only pending action is the reload or restart a file change asks for has nothing wrong of its
  // own when that change did not land (its file failed validation or was rolled back): the file says why.
  const onlyNotified = new Set(
    after.services
      .filter((s) => s.actions.every((a) => a === 'reload' || a === 'restart'))
      .map((s) => `${s.resource.kind}/${s.resource.name}`),
  );
  return drifted.map((d) => {
    if (d.result === 'held') return d;
    const a = applied.find((x) => x.kind === d.kind && x.name === d.name);
    if (a && a.result !== 'applied') return a;
    const k = `${d.kind}/${d.name}`;
    if (
      still.has(k) &&
      onlyNotified.has(k) &&
      !after.files.some((f) => f.action !== 'unchanged' && `${f.resource.kind}/${f.resource.name}` === k)
    )
      return {
        kind: d.kind,
        name: d.name,
        result: 'unchanged',
        message: `${d.message}: waits for the file change that asks for it`,
      };
    if (still.has(k))
      return {
        ...d,
        result: 'failed',
        reason: 'NotConverged',
        message: `still drifted after apply: ${d.message}`,
      };
    return { kind: d.kind, name: d.name, result: a?.result ?? 'applied' };
  });
}
