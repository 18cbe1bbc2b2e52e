// Prints one line per `Host` resource found under DIR (recursive *.yaml|*.yml, multi-document):
//   NAME<TAB>LABELS_JSON
// sorted by name, labels merged with {lab: "true"}. Exits 1 with a message naming the file when a
// document does not parse, a name is not a valid host name, or a name appears twice.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: fleet-hosts.mjs DIR');
  process.exit(2);
}

function* yamlFiles(root) {
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) yield* yamlFiles(path);
    else if (/\.ya?ml$/.test(entry.name)) yield path;
  }
}

// A machine name (systemd-nspawn -M) and hostname: one DNS label.
const hostName = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const hosts = new Map();
const fail = (msg) => {
  console.error(`fleet-hosts: ${msg}`);
  process.exit(1);
};

for (const file of [...yamlFiles(dir)].sort()) {
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (doc.errors.length > 0) fail(`${file}: ${doc.errors[0].message}`);
    const res = doc.toJS();
    if (res?.kind !== 'Host') continue;
    const name = res.metadata?.name;
    if (typeof name !== 'string' || !hostName.test(name))
      fail(`${file}: Host name ${JSON.stringify(name)} is not a host name`);
    if (hosts.has(name)) fail(`${file}: Host ${name} is declared twice (also in ${hosts.get(name).file})`);
    const labels = {};
    for (const [k, v] of Object.entries(res.metadata?.labels ?? {})) labels[k] = String(v);
    hosts.set(name, { file, labels: { ...labels, lab: 'true' } });
  }
}

for (const name of [...hosts.keys()].sort()) {
  console.log(`${name}\t${JSON.stringify(hosts.get(name).labels)}`);
}
