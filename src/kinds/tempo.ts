import type { HostRef, IntentPart, Resource } from '../core/model.js';
import type { TempoSpec } from '../generated/crd-types.js';
import { loopbackHttp } from './health-check.js';
import type { KindModule } from './kind.js';
import { managedHeader, toYaml } from './render-output.js';
import { unitName } from './unit-name.js';
import { parseVersion } from './version.js';

/** The packaged unit runs `tempo -config.file /etc/tempo/config.yml`: .yml, not .yaml. */
const CONFIG_PATH = '/etc/tempo/config.yml';
const UNIT = unitName('tempo');

/**
 * Monolithic Tempo with local blocks. 2.x and 3.x differ: 3.0 refuses the `compactor`/`ingester` blocks and
 * takes retention from the per-tenant overrides (`overrides.defaults.compaction.block_retention`).
 */
function tempoConfig(spec: TempoSpec): Record<string, unknown> {
  const major = parseVersion(spec.version)[0];
  const base = {
    server: { http_listen_port: spec.httpPort },
    distributor: {
      receivers: {
        otlp: {
          protocols: {
            // Tempo's receivers default to localhost; 0.0.0.0 lets collectors on other hosts export too.
            grpc: { endpoint: `0.0.0.0:${spec.otlp.grpcPort}` },
            http: { endpoint: `0.0.0.0:${spec.otlp.httpPort}` },
          },
        },
      },
    },
  };
  const storage = {
    trace: {
      backend: 'local',
      wal: { path: `${spec.storagePath}/wal` },
      local: { path: `${spec.storagePath}/blocks` },
    },
  };
  if (major >= 3) {
    return { ...base, storage, overrides: { defaults: { compaction: { block_retention: spec.retention } } } };
  }
  return { ...base, compactor: { compaction: { block_retention: spec.retention } }, storage };
}

function render(res: Resource<TempoSpec>, _host: HostRef): IntentPart {
  const ref = { kind: res.kind, name: res.metadata.name };
  return {
    files: [
      {
        path: CONFIG_PATH,
        content: toYaml(tempoConfig(res.spec), managedHeader(res, '#')),
        mode: '0644',
        owner: 'root',
        group: 'root',
        format: 'yaml',
        notify: [UNIT],
        secrets: [],
        resource: ref,
      },
    ],
    services: [
      {
        unit: UNIT,
        state: 'running',
        enabled: true,
        // No documented SIGHUP reload of the main config: restart.
        onChange: 'restart',
        // /ready answers 503 while the ring forms (10-30 s after start).
        health: loopbackHttp(res.spec.httpPort, '/ready', 60_000),
        resource: ref,
      },
    ],
    versions: [
      {
        component: 'tempo',
        source: { package: 'tempo' },
        version: res.spec.version,
        match: 'exact',
        why: 'the config shape',
        resource: ref,
      },
    ],
  };
}

function validate(res: Resource<TempoSpec>): { path: string; message: string }[] {
  const { httpPort, otlp } = res.spec;
  const problems: { path: string; message: string }[] = [];
  if (otlp.grpcPort === otlp.httpPort)
    problems.push({ path: '/spec/otlp/httpPort', message: 'must differ from otlp.grpcPort' });
  for (const [path, port] of [
    ['/spec/otlp/grpcPort', otlp.grpcPort],
    ['/spec/otlp/httpPort', otlp.httpPort],
  ] as const) {
    if (port === httpPort)
      problems.push({ path, message: `port ${port} is also the HTTP API port (httpPort)` });
  }
  return problems;
}

export const tempo: KindModule<TempoSpec> = { kind: 'Tempo', render, validate };
