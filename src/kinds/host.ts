import type { Resource } from '../core/model.js';
import type { HostSpec } from '../generated/crd-types.js';
import type { KindModule } from './kind.js';

/** Inventory only: the loader turns Host resources into `Snapshot.hosts`; a Host renders nothing itself. */
export const host: KindModule<HostSpec> = {
  kind: 'Host',
  render: () => ({}),
  validate: (res: Resource<HostSpec>) =>
    res.spec.user !== 'root' && res.spec.privilege === 'root'
      ? [
          {
            path: '/spec/privilege',
            message: `user ${res.spec.user} is not root: set privilege: sudo (passwordless sudo -n)`,
          },
        ]
      : [],
};
