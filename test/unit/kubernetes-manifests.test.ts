import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// The Kubernetes manifests listen on all addresses (a pod's loopback is unreachable for the Service), so they
// must close the port another way: a token from a Secret on the HTTP routes and a NetworkPolicy.
const dir = join(import.meta.dirname, '../../manifests/kubernetes');
const read = (f: string) => parse(readFileSync(join(dir, f), 'utf8'));

describe('Kubernetes manifests', () => {
  it('serve hostop with a bearer token from a Secret, behind a NetworkPolicy in the kustomization', () => {
    const deployment = read('deployment.yaml');
    const pod = deployment.spec.template.spec;
    const hostop = pod.containers.find((c: { name: string }) => c.name === 'hostop');
    const args: string[] = hostop.args;
    expect(args[args.indexOf('--listen') + 1]).toBe('0.0.0.0:9464');
    const tokenFile = args[args.indexOf('--http-token-file') + 1] ?? '';
    const mount = hostop.volumeMounts.find((m: { mountPath: string }) =>
      tokenFile.startsWith(`${m.mountPath}/`),
    );
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    expect(volume.secret.secretName).toBe('hostop-http-token');
    expect(volume.secret.optional).toBeUndefined(); // no Secret, no pod: never served open
    // The kubelet's probes carry no token: they use the two open routes.
    expect([hostop.livenessProbe.httpGet.path, hostop.readinessProbe.httpGet.path]).toEqual([
      '/healthz',
      '/readyz',
    ]);

    const policy = read('networkpolicy.yaml');
    expect(policy.kind).toBe('NetworkPolicy');
    expect(policy.spec.podSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(
      policy.spec.ingress.flatMap((r: { ports: { port: number }[] }) => r.ports.map((p) => p.port)),
    ).toEqual([9464]);
    expect(read('kustomization.yaml').resources).toContain('networkpolicy.yaml');
    expect(read('kustomization.yaml').resources).not.toContain('secret-http-token.example.yaml');
  });
});
