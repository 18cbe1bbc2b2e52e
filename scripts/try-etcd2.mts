import { startEtcdCluster } from '../test/support/etcd.js';
const c = await startEtcdCluster(3, 23790);
console.log(c.endpoints.join(','));
await new Promise((r) => setTimeout(r, 60_000));
await c.close();
