/**
 * Text from hosts (old file contents in diffs, validator and systemctl output, names read from a host's
 * inventory) made safe for a terminal: every C0 control but line feed and tab, DEL, every C1 control, and the
 * bidirectional overrides and isolates become a visible `\xNN` / `\u{NNNN}` escape. Otherwise an old line in a
 * diff could set the window title, erase lines, or write the operator's clipboard (OSC 52), and a bidi
 * override could make a diff read other than it is. Colours hostop adds itself are applied after this.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is escaped.
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const n = c.codePointAt(0)!;
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u{${n.toString(16)}}`;
  });
}
