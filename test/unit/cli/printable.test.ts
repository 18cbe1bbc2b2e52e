import { describe, expect, it } from 'vitest';
import { formatOutcomes } from '../../../src/cli/plan-output.js';
import { printable } from '../../../src/cli/printable.js';
import type { HostOutcome } from '../../../src/engine/outcome.js';

const ESC = '\x1b';
const OSC52 = `${ESC}]52;c;ZWNobyBwd25lZA==\x07`;
const ERASE = `${ESC}[2K${ESC}[1A`;
const TITLE = `${ESC}]0;owned\x07`;
const BIDI = '\u202e';

describe('host bytes never reach the terminal raw', () => {
  it.each([
    ['an OSC 52 clipboard write', OSC52, '\\x1b]52;c;ZWNobyBwd25lZA==\\x07'],
    ['a line erase', ERASE, '\\x1b[2K\\x1b[1A'],
    ['a window title', TITLE, '\\x1b]0;owned\\x07'],
    ['a C1 CSI', '\u009b31m', '\\x9b31m'],
    ['a bidi override', `a${BIDI}b`, 'a\\u{202e}b'],
  ])('%s is shown as escapes', (_name, raw, shown) => expect(printable(raw)).toBe(shown));

  it('keeps text, line feeds, tabs and non-ASCII letters', () => {
    expect(printable('grüße\tx\n☃')).toBe('grüße\tx\n☃');
  });

  it('plan output escapes old content in diffs, host-supplied names and messages', () => {
    const outcome: HostOutcome = {
      host: 'h1',
      status: 'drifted',
      plan: {
        host: 'h1',
        files: [
          {
            path: '/etc/x.conf',
            action: 'update',
            changed: ['content'],
            resource: { kind: 'File', name: 'x' },
            diff: `--- /etc/x.conf\n+++ /etc/x.conf\n@@ -1 +1 @@\n-old ${OSC52}\n+new\n`,
          },
          {
            path: `/etc/pruned${TITLE}`,
            action: 'delete',
            changed: [],
            resource: { kind: `File${ERASE}`, name: 'gone' },
          },
        ],
        services: [],
        checks: [],
        packages: [],
        needsContent: [],
        held: [],
      },
      resources: [{ kind: 'File', name: `odd${BIDI}`, result: 'failed', message: `validator said ${TITLE}` }],
      checks: [],
      durationMs: 1,
    };
    const text = formatOutcomes([outcome], { color: true, verb: 'plan' });
    // Only hostop's own colour sequences remain (ESC [ digits m).
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must not be there.
    expect(text.replace(/\x1b\[\d+m/g, '')).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]/);
    expect(text).toContain('-old \\x1b]52;c;ZWNobyBwd25lZA==\\x07');
  });
});
