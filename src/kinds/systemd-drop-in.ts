/**
 * One `Environment=` assignment, quoted per systemd.syntax(7): inside double quotes `\` and `"` are
 * backslash-escaped and control characters become `\xNN`; `%` is doubled because systemd expands unit
 * specifiers (%h, %n, ...) in Environment= values. `$` needs nothing: Environment= does not expand variables.
 */
export function environmentLine(name: string, value: string): string {
  return `Environment="${escapeQuoted(`${name}=${value}`)}"`;
}

/** A value as it appears inside the quotes of an Environment= line (also how a secret is found in the file). */
export function escapeQuoted(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what must be escaped.
  return text.replace(/[\\"%\x00-\x1f\x7f]/g, (c) => {
    if (c === '\\' || c === '"') return `\\${c}`;
    if (c === '%') return '%%';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

/** A `[Service]` drop-in setting the given variables, one line each, in the given order. */
export function environmentDropIn(header: string, env: [string, string][]): string {
  return `${header}[Service]\n${env.map(([k, v]) => `${environmentLine(k, v)}\n`).join('')}`;
}
