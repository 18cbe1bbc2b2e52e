import { expect } from 'vitest';

/** The pinned host key of every Host document in unit tests (never connected to). */
export const TEST_HOST_KEY =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9i9rPYL74tpLWzE8GhXhB2rE2MnMrA/GhHTlMJLOhS';

/** A Host document as parsed from YAML: address NAME.example.internal unless `spec` says otherwise. */
export function hostDoc(name: string, spec: Record<string, unknown> = {}, labels?: Record<string, string>) {
  return {
    apiVersion: 'hostop.dev/v1alpha1',
    kind: 'Host',
    metadata: { name, ...(labels && { labels }) },
    spec: { address: `${name}.example.internal`, hostKey: TEST_HOST_KEY, ...spec },
  };
}

/** A problem line equal to `message`; a message ending in ': ' names only the field (schema wording may change). */
export function expectProblem(lines: string[], message: string): void {
  const found = lines.some((l) => (message.endsWith(': ') ? l.startsWith(message) : l === message));
  expect(found, `${message}\n  not in\n${lines.join('\n')}`).toBe(true);
}
