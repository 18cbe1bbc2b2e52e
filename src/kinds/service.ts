import type { IntentPart, Resource } from '../core/model.js';
import type { ServiceSpec } from '../generated/crd-types.js';
import { healthCheck, healthProblems } from './health-check.js';
import type { KindModule } from './kind.js';
import { unitName } from './unit-name.js';

function render(res: Resource<ServiceSpec>): IntentPart {
  const health = healthCheck(res.spec.health);
  return {
    services: [
      {
        unit: unitName(res.spec.unit),
        state: res.spec.state,
        enabled: res.spec.enabled,
        onChange: res.spec.onChange,
        ...(health ? { health } : {}),
        resource: { kind: res.kind, name: res.metadata.name },
      },
    ],
  };
}

export const service: KindModule<ServiceSpec> = {
  kind: 'Service',
  render,
  validate: (res) => healthProblems(res.spec.health, '/spec/health'),
};
