/**
 * Masks secrets in free text before it reaches a log line, a status message or plan output.
 * One function shared by all three, so a value masked in one place is masked everywhere.
 */

/** What every masked value is replaced with. */
export const MASK = '***';

// Credentials in well-known textual shapes. Each rule keeps the key or scheme and masks only the value,
// so a masked message still says what kind of secret was there.
const BEARER = /\b(Bearer|Basic)(\s+)([A-Za-z0-9\-._~+/]+=*)/gi;
// `Authorization: xyz` or `Authorization=xyz` where xyz is not a scheme handled above.
const AUTHORIZATION = /\b(authorization["']?\s*[:=]\s*["']?)(?!(?:Bearer|Basic)\s)([^\s"'&,;}\\]+)/gi;
// key=value, key: value and "key":"value" for keys that name a credential (db_password, access_token, ...).
// Quoted values may hold spaces; unquoted values end at whitespace, separators, quotes or a JSON escape.
const KEY_VALUE =
  /\b([\w.-]*?(?:password|passwd|token|secret|secret[_-]?key|secret[_-]?access[_-]?key|api[_-]?key|private[_-]?key|httpheadervalue\d*|tls[_-]?(?:client)?[_-]?key)["']?\s*[:=]\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'&,;}\\]+))/gi;
// user:password@ in URLs.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)([^\s@/]+)(@)/gi;

/**
 * Returns `text` with every occurrence of each known secret value, and every credential-shaped substring
 * (`Bearer …`, `Basic …`, `Authorization: …`, `password=…`, `token: …`, `"secret":"…"`, `scheme://user:pass@`),
 * replaced by `***`.
 *
 * Contract: for any secret in `knownSecrets` that does not itself contain `*`, the result contains no
 * occurrence of it, even where occurrences overlap or two secrets overlap (all matches are masked as
 * merged ranges of the original text, so masking can never assemble a new occurrence). Empty secrets are
 * ignored. Pure; never throws. Over-masking is preferred to leaking: a value that merely looks like a
 * credential is masked too.
 */
export function redactText(text: string, knownSecrets: readonly string[]): string {
  const masked = maskKnownValues(text, knownSecrets);
  return masked
    .replace(BEARER, (_m, scheme: string, space: string) => `${scheme}${space}${MASK}`)
    .replace(AUTHORIZATION, (_m, key: string) => `${key}${MASK}`)
    .replace(KEY_VALUE, maskKeyValue)
    .replace(URL_USERINFO, (_m, head: string, _pw: string, at: string) => `${head}${MASK}${at}`);
}

function maskKeyValue(match: string, key: string, dq?: string, sq?: string, bare?: string): string {
  if (dq !== undefined) return dq === '' ? match : `${key}"${MASK}"`;
  if (sq !== undefined) return sq === '' ? match : `${key}'${MASK}'`;
  if (bare === undefined || bare === MASK) return match;
  return `${key}${MASK}`;
}

/**
 * A run of this many characters of a known secret is masked wherever it appears: a validator or a service
 * may quote a secret cut short (`parsing "sk-live-abcd…"`), or the part of it after a quote it escaped.
 * Shorter secrets are masked whole only.
 */
export const SECRET_FRAGMENT = 8;

/**
 * Masks every (possibly overlapping) occurrence of each secret and of every SECRET_FRAGMENT-long piece of one,
 * merging overlapping ranges into one mask.
 */
function maskKnownValues(text: string, secrets: readonly string[]): string {
  const ranges: [number, number][] = [];
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    for (let at = text.indexOf(secret); at !== -1; at = text.indexOf(secret, at + 1)) {
      ranges.push([at, at + secret.length]);
    }
  }
  const pieces = fragmentsOf(secrets);
  if (pieces.size > 0) {
    for (let at = 0; at + SECRET_FRAGMENT <= text.length; at++) {
      if (pieces.has(text.slice(at, at + SECRET_FRAGMENT))) ranges.push([at, at + SECRET_FRAGMENT]);
    }
  }
  if (ranges.length === 0) return text;
  ranges.sort((a, b) => a[0] - b[0]);
  let out = '';
  let cursor = 0;
  let i = 0;
  while (i < ranges.length) {
    const [start] = ranges[i]!;
    let end = ranges[i]![1];
    i++;
    while (i < ranges.length && ranges[i]![0] <= end) {
      end = Math.max(end, ranges[i]![1]);
      i++;
    }
    out += text.slice(cursor, start) + MASK;
    cursor = end;
  }
  return out + text.slice(cursor);
}

const fragmentCache = new Map<string, Set<string>>();

/** Every SECRET_FRAGMENT-long piece of the secrets (cached: the same few secrets mask every line of a diff). */
function fragmentsOf(secrets: readonly string[]): Set<string> {
  const key = secrets.join('\u0000');
  let pieces = fragmentCache.get(key);
  if (pieces) return pieces;
  pieces = new Set();
  for (const secret of secrets) {
    for (let at = 0; at + SECRET_FRAGMENT <= secret.length; at++) {
      const piece = secret.slice(at, at + SECRET_FRAGMENT);
      // A piece of the mask itself would mask every earlier mask again (harmless, but noisy).
      if (!piece.includes(MASK)) pieces.add(piece);
    }
  }
  if (fragmentCache.size >= 256) fragmentCache.clear();
  fragmentCache.set(key, pieces);
  return pieces;
}
