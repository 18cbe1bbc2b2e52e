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

/**
 * True when systemd accepts `value` in an Environment= or ExecStart= line: its utf8_is_valid() refuses NUL,
 * surrogates and the Unicode noncharacters U+FDD0..U+FDEF and U+xFFFE/U+xFFFF (systemd src/basic/utf8.c,
 * unichar_is_valid), and an assignment it refuses is dropped with only a log line.
 */
export function systemdText(value: string): boolean {
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    if (
      cp === 0 ||
      (cp >= 0xd800 && cp <= 0xdfff) ||
      (cp >= 0xfdd0 && cp <= 0xfdef) ||
      (cp & 0xfffe) === 0xfffe
    )
      return false;
  }
  return true;
}
