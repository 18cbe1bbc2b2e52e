/**
 * Masking of secrets in anything hostop shows (diffs, plans, status messages, logs).
 * Two nets: the literal values that the schema declares secret (`format: password`, collected by the renderers
 * into `FileIntent.secrets`), and key-shaped lines (`password: x`, `"token": "x"`, `Authorization=Bearer x`)
 * so that secrets already on a host, which hostop never declared, are hidden too.
 */
export const MASK = '***';

const KEYED =
  /((?:pass(?:word|wd)?|secret|token|api[_-]?key|authorization|credentials?|headers?)["']?\s*[:=]\s*)(["']?)([^"'\n,}]+)/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;

export function maskSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  // Longest first, so a secret that contains another is masked whole.
  for (const s of [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length)) {
    out = out.split(s).join(MASK);
  }
  out = out.replace(BEARER, `$1 ${MASK}`);
  return out.replace(KEYED, (_m, key: string, quote: string, value: string) =>
    value.trim() === MASK || value.trim() === '' ? `${key}${quote}${value}` : `${key}${quote}${MASK}`,
  );
}
