import type { ServiceIntent } from '../core/model.js';
import { loopbackHttp } from './health-check.js';
import { unitName } from './unit-name.js';

/** grafana-server reads provisioning files at start only: a changed data source or provider needs a restart. */
export function grafanaService(resource: ServiceIntent['resource']): ServiceIntent {
  return {
    unit: unitName('grafana-server'),
    onChange: 'restart',
    health: loopbackHttp(3000, '/api/health', 60_000),
    resource,
  };
}

/**
 * Grafana expands `$VAR` and `${VAR}` in provisioning values; a literal `$` must be written `$$`. Every string
 * value of a provisioning file goes through this, so users write Grafana's own syntax (`${__span.tags.x}`).
 */
export function escapeDollars(value: unknown): unknown {
  // A replacement *string* '$$' would mean one '$'; the function form inserts two.
  if (typeof value === 'string') return value.replaceAll('$', () => '$$');
  if (Array.isArray(value)) return value.map(escapeDollars);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeDollars(v)]));
  }
  return value;
}
