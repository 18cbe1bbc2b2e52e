import PQueue from 'p-queue';
import type { HostIntent } from '../core/model.js';
import type { ExecutorSource } from './host-executor.js';
import type { HostOutcome } from './outcome.js';
import { type HostMemory, type PassOptions, newHostMemory, reconcileHost } from './reconcile-host.js';

export interface FleetPassOptions extends PassOptions {
  /** At most this many hosts in flight. */
  maxParallel: number;
  /** Stop starting new hosts once this many have failed (apply only); the rest are reported as skipped. */
  maxFailures?: number;
  memory?: Map<string, HostMemory>;
  onHostDone?: (outcome: HostOutcome, done: number, total: number) => void;
}

const FAILED = new Set(['failed', 'degraded', 'rolled-back', 'unreachable']);

/**
 * One pass over many hosts (plan or apply), bounded in parallelism; a fleet-wide apply stops starting new hosts
 * after `maxFailures` failures. Outcomes come back in the order of `intents`.
 */
export async function fleetPass(
  pool: ExecutorSource,
  intents: HostIntent[],
  opts: FleetPassOptions,
): Promise<HostOutcome[]> {
  const queue = new PQueue({ concurrency: opts.maxParallel });
  const memory = opts.memory ?? new Map<string, HostMemory>();
  let failures = 0;
  let done = 0;
  const outcomes = await Promise.all(
    intents.map((intent) =>
      queue.add(
        async (): Promise<HostOutcome> => {
          const host = intent.host.name;
          if (opts.apply && opts.maxFailures !== undefined && failures >= opts.maxFailures) {
            const skipped: HostOutcome = {
              host,
              status: 'failed',
              resources: [],
              checks: [],
              error: {
                code: 'Skipped',
                message: `not started: ${failures} host(s) failed, --max-failures is ${opts.maxFailures}`,
                retryable: true,
              },
              durationMs: 0,
            };
            opts.onHostDone?.(skipped, ++done, intents.length);
            return skipped;
          }
          const mem = memory.get(host) ?? newHostMemory();
          memory.set(host, mem);
          const outcome = await reconcileHost(pool, intent, mem, opts);
          if (FAILED.has(outcome.status)) failures++;
          opts.onHostDone?.(outcome, ++done, intents.length);
          return outcome;
        },
        { throwOnTimeout: true },
      ),
    ),
  );
  return outcomes;
}
