import type { HostRef, IntentPart, Problem, Resource, Snapshot } from './model.js';

/**
 * One resource kind: its CRD lives in `crds/<plural>.yaml`, its code in one file under `src/kinds/`,
 * and one line in `kinds/registry.ts` registers it. The core never imports the registry: whoever loads a
 * desired state passes the lookup in (`KindLookup`), so core and kinds do not depend on each other both ways.
 */
export interface KindModule<S = Record<string, unknown>> {
  kind: string;
  /**
   * Pure: the files, services and checks this resource wants on one host it selects.
   * Deterministic: the same inputs give byte-identical output. Never throws for schema-valid input.
   */
  render(resource: Resource<S>, host: HostRef, snapshot: Snapshot): IntentPart;
  /**
   * Names of `Host` resources this resource refers to (e.g. the collector host an agent exports to),
   * with the JSON path of each reference; the loader reports unknown ones.
   */
  hostReferences?(resource: Resource<S>): { path: string; host: string }[];
  /** Checks the schema cannot express (cross-field rules). Returned as values, never thrown. */
  validate?(resource: Resource<S>): Omit<Problem, 'file' | 'line' | 'severity'>[];
}

/** The kind module of a kind's name, undefined for a kind hostop does not have. */
export type KindLookup = (kind: string) => KindModule | undefined;
