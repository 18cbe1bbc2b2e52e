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

/**
 * One ExecStart= argument, double-quoted per systemd.syntax(7) like an Environment= value, with `$` doubled:
 * ExecStart= expands `$VAR` and `${VAR}` (systemd.service(5), "Command lines"), and `$$` is a literal `$`.
 */
export function execArgument(arg: string): string {
  return `"${escapeQuoted(arg).replace(/\$/g, () => '$$')}"`;
}

/**
 * A `[Service]` drop-in setting the given variables, one line each, in the given order. With `execStart`, it
 * first empties the unit's ExecStart= list (an empty assignment resets it: systemd.service(5)) and sets this
 * command instead, so the unit file itself is never edited.
 */
export function environmentDropIn(header: string, env: [string, string][], execStart?: string[]): string {
  const exec = execStart ? ['ExecStart=', `ExecStart=${execStart.map(execArgument).join(' ')}`] : [];
  return `${header}[Service]\n${[...exec, ...env.map(([k, v]) => environmentLine(k, v))].map((l) => `${l}\n`).join('')}`;
}
