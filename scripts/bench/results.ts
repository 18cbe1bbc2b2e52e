import type { BenchConfig } from './config.js';
import type { DaemonRun } from './daemon-bench.js';
import type { WarmScans } from './hostop-scan.js';
import type { Machine } from './machine.js';
import type { Floor, OnHostCost } from './ssh-floor.js';

/** One timed process run (hostop CLI or ansible-playbook). */
export interface TimedRun {
  ms: number;
  cpuSeconds?: number;
  maxRssKb?: number;
  /** What the run reported per host, e.g. "50 in-sync" or "49 ok, 1 changed". */
  outcome: string;
  ok: boolean;
}

export interface ScanResult {
  hosts: number;
  warm?: WarmScans;
  cold: TimedRun[];
  ansibleCheck: TimedRun[];
}

export interface DriftResult {
  hosts: number;
  hostopApply: TimedRun[];
  ansibleApply: TimedRun[];
}

/** Everything one `npm run bench` measured; the report is a pure function of it. */
export interface Results {
  machine: Machine;
  config: BenchConfig;
  startedAt: string;
  finishedAt: string;
  loadStart: string;
  loadEnd: string;
  scans: ScanResult[];
  drift?: DriftResult;
  daemons: DaemonRun[];
  floor?: Floor & { hosts: number };
  onHost?: OnHostCost;
  /** `hostop validate` of the drift-size desired state as a new process: Node start-up, CRD schemas, load. */
  startup: TimedRun[];
  /** Anything that went differently from plan (a host not in sync, a failed step): printed with the tables. */
  notes: string[];
}
