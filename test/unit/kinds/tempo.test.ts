import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { buildSnapshot } from '../../../src/core/build-snapshot.js';
import { renderSnapshot } from '../../../src/core/render.js';
import { kindByName } from '../../../src/kinds/registry.js';
import { kindSchemas } from '../../../src/source/crds.js';
import { expectProblem, hostDoc } from '../../support/documents.js';

const host = hostDoc('mon');
const tempo = (spec: Record<string, unknown>) => ({
  apiVersion: 'hostop.dev/v1alpha1',
  kind: 'Tempo',
  metadata: { name: 'tempo' },
  spec: { hosts: ['mon'], ...spec },
});
const build = (spec: Record<string, unknown>) =>
  buildSnapshot(
    [{ file: 't.yaml', text: `${stringify(host)}---\n${stringify(tempo(spec))}` }],
    kindSchemas(),
    kindByName,
  );

function rendered(spec: Record<string, unknown>) {
  const { snapshot, problems } = build(spec);
  expect(problems).toEqual([]);
  const intent = renderSnapshot(snapshot!, kindByName)[0]!;
  return { config: parse(intent.files[0]!.content) as Record<string, unknown>, intent };
}

describe('Tempo', () => {
  it.each([
    ['2.0.0', true],
    ['2.8.1', true],
    ['3.0.0', false],
    ['3.1.4', false],
  ])('version %s: compactor block %s, retention 168h where that version reads it', (version, twoShape) => {
    const { config } = rendered({ version, retention: '168h' });
    if (twoShape) {
      expect(config.compactor).toEqual({ compaction: { block_retention: '168h' } });
      expect(config.overrides).toBeUndefined();
    } else {
      expect(config.compactor).toBeUndefined();
      expect(config.ingester).toBeUndefined();
      expect(config.overrides).toEqual({ defaults: { compaction: { block_retention: '168h' } } });
    }
  });

  it('writes /etc/tempo/config.yml, receivers on 0.0.0.0 clear of the collector ports, restart and /ready', () => {
    const { config, intent } = rendered({ version: '2.8.1' });
    expect(intent.files[0]!.path).toBe('/etc/tempo/config.yml');
    expect(config.distributor).toEqual({
      receivers: {
        otlp: { protocols: { grpc: { endpoint: '0.0.0.0:4417' }, http: { endpoint: '0.0.0.0:4418' } } },
      },
    });
    expect(config.compactor).toEqual({ compaction: { block_retention: '336h' } });
    expect(intent.services).toEqual([
      expect.objectContaining({
        unit: 'tempo.service',
        onChange: 'restart',
        health: { type: 'http', url: 'http://127.0.0.1:3200/ready', expectStatus: 200, timeoutMs: 60_000 },
      }),
    ]);
  });

  it.each([
    [
      { version: '2.8.1', otlp: { grpcPort: 4500, httpPort: 4500 } },
      '/spec/otlp/httpPort: must differ from otlp.grpcPort',
    ],
    [
      { version: '2.8.1', otlp: { grpcPort: 3200 } },
      '/spec/otlp/grpcPort: port 3200 is also the HTTP API port (httpPort)',
    ],
    [{ version: '4.0.0' }, '/spec/version: '],
    [{ version: '2.8.1', retention: '7d' }, '/spec/retention: '],
  ])('rejects %j', (spec, message) => {
    expectProblem(
      build(spec).problems.map((p) => `${p.path}: ${p.message}`),
      message,
    );
  });
});
