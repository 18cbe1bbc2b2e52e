import fc from 'fast-check';

/**
 * Strings written to break out of whatever they are spliced into: shell words and command substitution, heredoc
 * delimiters, quotes of every kind, line breaks (systemd, INI and YAML lines), NUL, unit specifiers, globs,
 * option-looking words, traversal, and unicode that renders misleadingly. Each payload that would run a command
 * runs `touch CANARY`: if CANARY ever exists, something was executed.
 */
export function payloads(canary: string): string[] {
  return [
    `$(touch ${canary})`,
    `\`touch ${canary}\``,
    `'; touch ${canary}; '`,
    `"; touch ${canary}; "`,
    `\ntouch ${canary}\n`,
    `\r\ntouch ${canary}\r\n`,
    `;touch ${canary}`,
    `|touch ${canary}`,
    `&& touch ${canary} &&`,
    `$(touch\${IFS}${canary})`,
    `\\'$(touch ${canary})\\'`,
    `\nHOSTOP_DATA_END\ntouch ${canary}\n`,
    `HOSTOP:000:${'0'.repeat(32)}\n`,
    `\nExecStartPre=/bin/touch ${canary}\n`,
    `"\nExecStartPre=/bin/touch ${canary}\n"`,
    `\nphp_admin_value[auto_prepend_file] = ${canary}\n`,
    '\n- injected: true\n',
    '{"injected": true}',
    '%h %n %% %',
    '\\x0a\\n\\\\',
    '$HOME ${PATH} $$ $? $!',
    '\0',
    '\t',
    '\u2028\u2029',
    '\u202eevil',
    '\ufeff',
    'é ü ñ 日本 😀',
    '* ? [a] ~root',
    '-rf',
    '--',
    '..',
    '../../root/.ssh/authorized_keys',
    ' leading and trailing ',
    "'",
    '"',
    '\\',
    '#',
    ':',
    '&',
    '=',
  ];
}

/** Strings that are not UTF-16 well formed cannot be written to a UTF-8 desired-state file at all. */
const wellFormed = (s: string) => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/** Concatenations of payloads and arbitrary unicode: what a generated hostile field holds. */
export function hostileString(canary: string, maxParts = 4): fc.Arbitrary<string> {
  const part = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...payloads(canary)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }).filter(wellFormed) },
  );
  return fc.array(part, { minLength: 1, maxLength: maxParts }).map((parts) => parts.join(''));
}
