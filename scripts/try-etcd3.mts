import { startEtcdCluster } from '../test/support/etcd.js';
const c = await startEtcdCluster(3, 21790);
const l = await c.leader(); console.log('leader', l);
await c.kill(l); console.log('killed; new leader', await c.leader());
const t = Date.now(); await c.start(l).catch((e) => console.log('restart failed', String(e).slice(0, 2000)));
console.log('restarted in', Date.now() - t);
await c.close();
