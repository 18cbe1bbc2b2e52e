import type { Fence } from '../apply/apply-scripts.js';
import { parseRaiseFenceOutput } from '../apply/apply-scripts.js';
import { type HostScript, hostScript, isChangeRequest } from '../apply/host-scripts.js';
import { HostopError } from '../core/errors.js';
import type { HostRef } from '../core/model.js';
import type { ExecutorSource, HostExecutor, RequestOptions, RunResult } from '../engine/host-executor.js';

/** What the fencing needs of the coordination (coordinator.ts). */
export interface Fencing {
  fenceOf(host: string): Fence | undefined;
  enforcing(): boolean;
  /** Proves in etcd that the fence still stands; throws (Fenced, CoordinationLost) when it does not. */
  confirm(host: string, fence: Fence): Promise<void>;
  /** The host held the fence of another epoch before this daemon's was raised there. */
  fenceAdopted(host: string, from: { epoch: string; token: string }): void;
}

/** How long raising a host's fence may take (it waits for the host lock like any changing script). */
const RAISE_TIMEOUT_MS = 90_000;

/**
 * The executors passes get when several daemons share the fleet: every script that changes a host is first
 * confirmed in etcd (the rollback of a change already made excepted: it must never wait on etcd) and then
 * carries this daemon's fence, which the host checks under its lock. Before the first pass of a claim, the host's
 * fence is raised to the claim's token, so whatever the previous owner still sends is refused from then on.
 */
export class FencedExecutors implements ExecutorSource {
  /** Host -> the fence (epoch and token) it was raised to. */
  private readonly raised = new Map<string, string>();

  constructor(
    private readonly inner: ExecutorSource,
    private readonly fencing: Fencing,
  ) {}

  async connection(host: HostRef, signal?: AbortSignal): Promise<HostExecutor> {
    const exec = await this.inner.connection(host, signal);
    const fence = this.fencing.fenceOf(host.name);
    const id = fence && `${fence.epoch} ${fence.token}`;
    if (fence && this.fencing.enforcing() && this.raised.get(host.name) !== id) {
      await this.fencing.confirm(host.name, fence);
      const res = await exec.run(hostScript({ op: 'fence', fence }), { timeoutMs: RAISE_TIMEOUT_MS, signal });
      const { adopted } = parseRaiseFenceOutput(res.stdout.toString('utf8'), host.name);
      if (adopted) this.fencing.fenceAdopted(host.name, adopted);
      this.raised.set(host.name, id!);
    }
    return new FencedExecutor(exec, this.fencing);
  }
}

class FencedExecutor implements HostExecutor {
  readonly host: HostRef;

  constructor(
    private readonly inner: HostExecutor,
    private readonly fencing: Fencing,
  ) {
    this.host = inner.host;
  }

  async run(script: HostScript, opts: RequestOptions): Promise<RunResult> {
    const r = script.request;
    if (!isChangeRequest(r)) return this.inner.run(script, opts);
    const fence = this.fencing.fenceOf(this.host.name);
    if (!fence)
      throw new HostopError(
        'Fenced',
        'this daemon does not own the host (any more); nothing written',
        false,
        {
          host: this.host.name,
        },
      );
    if (r.op !== 'restore') await this.fencing.confirm(this.host.name, fence);
    return this.inner.run(hostScript({ ...r, fence }), opts);
  }

  forwardTcp(host: string, port: number, opts: RequestOptions) {
    return this.inner.forwardTcp(host, port, opts);
  }

  get stream() {
    return this.inner.stream?.bind(this.inner);
  }

  close(): void {
    this.inner.close();
  }
}
