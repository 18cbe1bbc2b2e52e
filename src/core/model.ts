/**
 * The data that flows through the pure core:
 *   desired-state files -> Resource[] (load) -> HostIntent per host (render)
 *   HostIntent + ObservedHost (probe) -> HostPlan (diff)
 * Everything here is plain data: no classes, no I/O.
 */

import type { YamlListItems } from './merge-yaml.js';

export const API_VERSION = 'hostop.dev/v1alpha1';

/** Where a document came from, so every problem can name file and line. */
export interface SourceRef {
  file: string;
  /** 1-based line of the document start (or of the offending node when known). */
  line: number;
}

export interface ResourceRef {
  kind: string;
  name: string;
}

export interface ObjectMeta {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A validated resource. `spec` has passed the CRD schema (defaults applied). */
export interface Resource<S = Record<string, unknown>> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: S;
  source: SourceRef;
}

/** One problem found in the desired state. Loaders return these as values; they never throw for bad input. */
export interface Problem {
  severity: 'error' | 'warning';
  file: string;
  line?: number;
  /** JSON path of the offending field, e.g. `/spec/port` (empty for whole-document problems). */
  path: string;
  message: string;
}

/** A host as declared by a `Host` resource. */
export interface HostRef {
  name: string;
  labels: Record<string, string>;
  address: string;
  port: number;
  user: string;
  hostKey: string;
  identityFile?: string;
  /** How a non-root user gains root: `sudo -n`. Root needs nothing. */
  privilege: 'root' | 'sudo';
}

/** A validated desired state: the unit of change for the daemon. */
/** A path hostop manages on a host, as its inventory there records it (see apply/host-inventory). */
export interface ManagedFile extends ResourceRef {
  /** hostop found a file there before it first managed the path, and kept it in original/ to restore on prune. */
  original: boolean;
}

/** One file of a desired-state directory as read from disk (`source/read-files.ts`), or why it was refused. */
export interface SourceFile {
  /** Path as the user can open it: the directory as given, joined with the path below it. */
  file: string;
  text?: string;
  refused?: string;
}

export interface Snapshot {
  resources: Resource[];
  hosts: HostRef[];
  /** git SHA (+ "-dirty"), or undefined when the directory is not a git checkout. */
  revision?: string;
  warnings: Problem[];
}

// ---------------------------------------------------------------------------
// Intent: what one host must look like (output of render)

/** A validator run on the candidate file before it is activated; `{}` in argv is replaced by the candidate path. */
export interface ValidatorSpec {
  argv: string[];
  timeoutMs: number;
}

export interface FileIntent {
  path: string;
  /** Exact UTF-8 content the file must have. */
  content: string;
  /** Octal string, e.g. "0644". */
  mode: string;
  owner: string;
  group: string;
  /** How to compare semantically before a byte diff (key order is not drift). */
  format: 'json' | 'yaml' | 'text';
  validate?: ValidatorSpec;
  /** Units to reload or restart (per their ServiceIntent.onChange) when this file changes. */
  notify: string[];
  /** The file is a systemd unit or drop-in: `systemctl daemon-reload` runs before any notified unit. */
  daemonReload?: boolean;
  /** Literal values in `content` that must never be shown (masked in diffs, plans, logs). */
  secrets: string[];
  /**
   * The file is someone else's and hostop owns only these list items in it: each pass reads the file, `content`
   * (and mode, owner, group) become the file as found with the items added. Never pruned: when the resource
   * goes, the file stays as it is. `content` is empty until then.
   */
  merge?: YamlListItems[];
  resource: ResourceRef;
}

export type HealthCheck =
  | { type: 'http'; url: string; expectStatus: number; timeoutMs: number }
  | { type: 'tcp'; host: string; port: number; timeoutMs: number };

export interface ServiceIntent {
  unit: string;
  /** Undefined: hostop does not manage the run state, only reloads on change. */
  state?: 'running' | 'stopped';
  enabled?: boolean;
  /** What a change of a notifying file triggers. */
  onChange: 'reload' | 'restart';
  health?: HealthCheck;
  /**
   * How a reload is proven to have taken effect, beyond `systemctl reload` exiting 0 (which only says the
   * signal was sent): a field of a JSON document the component serves on the host that changes on every
   * reload it really performs. Without it a reload is trusted once systemd runs it successfully.
   */
  reloadProof?: ReloadProof;
  resource: ResourceRef;
}

export interface ReloadProof {
  url: string;
  /** Top-level field of the JSON body whose value changes when the component has reloaded. */
  field: string;
  timeoutMs: number;
}

/**
 * A component version a resource was rendered for. The probe reads the installed version; when it does not
 * match, the resource is held: nothing of it is written, reloaded or pruned on that host.
 */
export interface VersionIntent {
  /** The component's name in messages (otelcol-contrib, tempo, claude). */
  component: string;
  /**
   * Where its installed version is read: the Debian package that carries it (`dpkg-query`), or a program run
   * as `PROGRAM --version` (only again when the program's file changed).
   */
  source: { package: string } | { program: string };
  /** The declared version. */
  version: string;
  /** `exact`: the installed version must be this one; `minimum`: this one or newer. */
  match: 'exact' | 'minimum';
  /** What the version decides, for the message: "the exporter names and the reload method". */
  why: string;
  resource: ResourceRef;
}

/**
 * A Debian package a host must have at a version (or must not have): a `Package` resource on one host. Packages
 * converge before the host's files and services; a failed one holds the resources whose version it carries.
 */
export interface PackageIntent {
  /** The Debian package name. */
  name: string;
  /** The version exactly as `dpkg-query -W` reports it; undefined: any installed version satisfies. */
  version?: string;
  state: 'present' | 'absent';
  /**
   * Where it comes from: undefined for the host's own apt sources (`apt-get install name=version`), else a
   * `.deb` uploaded by hostop: a file below the desired-state directory (`path`, relative to it, as written;
   * whoever knows the directory reads it) or a URL, whose sha256 must match before any byte reaches a host.
   */
  deb?: {
    sha256: string;
    path?: string;
    url?: string;
    /** `path` resolved against the desired-state directory: set by the loader, which knows the directory. */
    file?: string;
  };
  resource: ResourceRef;
}

/** A reachability check run from the host (e.g. the collector's OTLP port from an agent host). */
export interface CheckIntent {
  name: string;
  type: 'tcp';
  host: string;
  port: number;
  timeoutMs: number;
  resource: ResourceRef;
}

export interface HostIntent {
  host: HostRef;
  files: FileIntent[];
  /** Units hostop manages or notifies; a unit a file notifies and no resource manages is restarted on change. */
  services: ServiceIntent[];
  checks: CheckIntent[];
  versions: VersionIntent[];
  /** Packages to converge before anything else on the host; absent when none is declared. */
  packages?: PackageIntent[];
  /**
   * The desired state's suspended resources (`spec.suspend`), on every host whichever hosts they select; absent
   * when none is. They render nothing, and the files the host's inventory records for them are left as they are:
   * neither written nor pruned.
   */
  suspended?: ResourceRef[];
}

/** What one kind's render contributes for one host. */
export interface IntentPart {
  files?: FileIntent[];
  services?: ServiceIntent[];
  checks?: CheckIntent[];
  versions?: VersionIntent[];
  packages?: PackageIntent[];
}

// ---------------------------------------------------------------------------
// Observed: what one probe saw on a host

export interface ObservedFile {
  path: string;
  type: 'missing' | 'file' | 'dir' | 'symlink' | 'other';
  sha256?: string;
  size?: number;
  /** Octal string, e.g. "0644". */
  mode?: string;
  owner?: string;
  group?: string;
}

export interface ObservedUnit {
  unit: string;
  /** systemd ActiveState: active, inactive, failed, activating, ... */
  active: string;
  /** systemd UnitFileState: enabled, disabled, static, masked, "" when unknown. */
  enabled: string;
  /** systemd LoadState: loaded, not-found, ... */
  load: string;
}

export interface ObservedHost {
  host: string;
  facts: { hostname: string; os: string; systemd: boolean };
  files: Record<string, ObservedFile>;
  units: Record<string, ObservedUnit>;
  /** Contents (UTF-8) of the regular files among the probe's `inline` paths; absent when none were asked. */
  contents?: Record<string, string>;
  /**
   * Installed versions of the packages asked for (dpkg), `null` when not installed; absent when none were
   * asked. `packagesUnreadable` says why none could be read (no dpkg on the host).
   */
  packages?: Record<string, string | null>;
  packagesUnreadable?: string;
  /** The version each asked program reports (`PROGRAM --version`), `null` when it is missing or says none. */
  programs?: Record<string, string | null>;
}
