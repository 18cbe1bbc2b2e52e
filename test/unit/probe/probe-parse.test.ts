import { describe, expect, it } from 'vitest';
import { DesiredStateError, ProtocolError } from '../../../src/core/errors.js';
import { parseProbeOutput } from '../../../src/probe/probe-parse.js';
import { type ProbeRequest, buildProbeScript } from '../../../src/probe/probe-script.js';

const H = 'a'.repeat(64);
const SIG = '2049:131:12:1700000000.123456789:1700000001.000000001';
const req: ProbeRequest = {
  paths: ['/etc/a.conf', '/etc/b dir', '/etc/gone'],
  units: ['otelcol-contrib.service', 'tempo'],
};

const units = [
  'units-begin',
  'Id=otelcol-contrib.service',
  'LoadState=loaded',
  'ActiveState=active',
  'UnitFileState=enabled',
  '',
  'Id=tempo.service',
  'LoadState=not-found',
  'ActiveState=inactive',
  'UnitFileState=',
  'units-end 0',
];
const good = [
  'hostop-probe 1',
  'hostname lab-01',
  'os "Debian GNU/Linux 12 (bookworm)"',
  'systemd 1',
  'missing 2',
  `stat 0 81a4 12 0 0 root root ${SIG}`,
  `stat 1 41ed 4096 0 1000 root 1000 ${SIG}`,
  `sha256 0 ${H}`,
  ...units,
  'end 3 2',
];
const out = (lines: string[]) => `${lines.join('\n')}\n`;

describe('parseProbeOutput', () => {
  it('parses a complete output', () => {
    const r = parseProbeOutput('lab-01', req, out(good));
    expect(r.observed).toEqual({
      host: 'lab-01',
      facts: { hostname: 'lab-01', os: 'Debian GNU/Linux 12 (bookworm)', systemd: true },
      files: {
        '/etc/a.conf': {
          path: '/etc/a.conf',
          type: 'file',
          size: 12,
          mode: '0644',
          owner: 'root',
          group: 'root',
          sha256: H,
        },
        '/etc/b dir': {
          path: '/etc/b dir',
          type: 'dir',
          size: 4096,
          mode: '0755',
          owner: 'root',
          group: '1000',
        },
        '/etc/gone': { path: '/etc/gone', type: 'missing' },
      },
      units: {
        'otelcol-contrib.service': {
          unit: 'otelcol-contrib.service',
          active: 'active',
          enabled: 'enabled',
          load: 'loaded',
        },
        tempo: { unit: 'tempo', active: 'inactive', enabled: '', load: 'not-found' },
      },
    });
    expect(r.known).toEqual({ '/etc/a.conf': { signature: SIG, sha256: H } });
  });

  it('reuses a known hash when the signature is unchanged, and reports setuid/sticky bits and symlinks', () => {
    const lines = good.filter((l) => !l.startsWith('sha256'));
    const known = { '/etc/a.conf': { signature: SIG, sha256: H } };
    expect(parseProbeOutput('h', { ...req, known }, out(lines)).observed.files['/etc/a.conf']?.sha256).toBe(
      H,
    );
    const modes = good.map((l) => l.replace('stat 1 41ed', 'stat 1 a1ff').replace('81a4', '8da4'));
    const files = parseProbeOutput('h', req, out(modes)).observed.files;
    expect([files['/etc/a.conf']?.mode, files['/etc/b dir']?.type, files['/etc/b dir']?.mode]).toEqual([
      '6644',
      'symlink',
      '0777',
    ]);
  });

  it('treats `stat I -` (vanished between test and stat) as missing', () => {
    const lines = good.map((l) => (l.startsWith('stat 1') ? 'stat 1 -' : l));
    expect(parseProbeOutput('h', req, out(lines)).observed.files['/etc/b dir']?.type).toBe('missing');
  });

  const replace = (from: string, to: string | null) => {
    const i = good.indexOf(from);
    const copy = [...good];
    if (to === null) copy.splice(i, 1);
    else copy[i] = to;
    return out(copy);
  };
  const bad: [string, string, RegExp][] = [
    ['empty output', '', /line 1: .*truncated/],
    ['no trailing newline (truncated mid-line)', out(good).slice(0, -1), /truncated/],
    ['cut after the stat records', out(good.slice(0, 8)), /line 9: .*truncated|line 9: expected/],
    ['another format version', replace('hostop-probe 1', 'hostop-probe 2'), /line 1: expected header/],
    ['shell noise before the header', out(['Welcome!', ...good]), /line 1: expected header/],
    ['unknown record', replace(`sha256 0 ${H}`, `xattr 0 ${H}`), /line 8: expected a path record.*"xattr/],
    [
      'unknown field in a stat record',
      replace(`stat 0 81a4 12 0 0 root root ${SIG}`, `stat 0 81a4 12 0 0 root root ${SIG} extra`),
      /line 6/,
    ],
    ['path reported twice', replace('missing 2', 'missing 0'), /line 6: path reported twice/],
    ['index out of range', replace('missing 2', 'missing 3'), /line 5: path index out of range/],
    ['a path not reported', replace('missing 2', null), /1 path\(s\) not reported/],
    ['no hash for a regular file', replace(`sha256 0 ${H}`, null), /no sha256 for changed regular file #0/],
    [
      'hash of a directory',
      out([...good.slice(0, 8), `sha256 1 ${H}`, ...good.slice(8)]),
      /line 9: sha256 reported for non-regular path #1/,
    ],
    ['hash could not be taken', replace(`sha256 0 ${H}`, 'sha256 0 -'), /could not be hashed/],
    ['short hash', replace(`sha256 0 ${H}`, 'sha256 0 abc'), /line 8/],
    [
      'unit key we did not ask for',
      replace('LoadState=loaded', 'ExecStart=/bin/evil'),
      /unexpected line in systemctl output/,
    ],
    [
      'one unit block missing',
      out(good.filter((_l, i) => i < 13 || i > 17)),
      /reported 1 unit\(s\), expected 2/,
    ],
    ['systemctl failed', replace('units-end 0', 'units-end 1'), /systemctl show failed/],
    ['key twice in a block', replace('UnitFileState=enabled', 'ActiveState=failed'), /ActiveState twice/],
    ['trailer counts differ', replace('end 3 2', 'end 2 2'), /trailer counts differ/],
    ['output after the trailer', out([...good, 'end 3 2']), /unexpected output after the trailer/],
  ];
  it.each(bad)('rejects %s with ProtocolError naming host and line', (_name, stdout, message) => {
    let err: unknown;
    try {
      parseProbeOutput('lab-07', req, stdout);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).host).toBe('lab-07');
    expect((err as ProtocolError).message).toMatch(/^host lab-07: probe output line \d+: /);
    expect((err as ProtocolError).message).toMatch(message);
  });
});

describe('parseProbeOutput with inline files', () => {
  const withInline: ProbeRequest = { ...req, inline: ['/var/lib/hostop/managed.json', '/nope'] };
  const body = (inline: string[]) => out([...good.slice(0, -1), ...inline, 'end 3 2']);
  const json = Buffer.from('{"files":{}}\n').toString('base64');

  it('returns the content of each inline regular file, nothing for `-`', () => {
    const r = parseProbeOutput('h', withInline, body([`inline 0 ${json}`, 'inline 1 -']));
    expect(r.observed.contents).toEqual({ '/var/lib/hostop/managed.json': '{"files":{}}\n' });
  });

  it.each([
    ['a missing record', [`inline 0 ${json}`], /expected "inline 1/],
    ['records out of order', ['inline 1 -', `inline 0 ${json}`], /inline record 1 where 0 was due/],
    ['not base64', ['inline 0 $(id)', 'inline 1 -'], /expected "inline 0/],
    [
      'a file over the cap',
      [`inline 0 ${Buffer.alloc(1024 * 1024 + 1).toString('base64')}`, 'inline 1 -'],
      /larger than 1048576 bytes/,
    ],
  ])('rejects %s', (_name, lines, message) => {
    expect(() => parseProbeOutput('h', withInline, body(lines))).toThrow(message);
  });
});

describe('a file too large to hash', () => {
  it('a host cannot claim it for a small file', () => {
    const lines = good.map((l) => (l === `sha256 0 ${H}` ? 'sha256 0 big' : l));
    expect(() => parseProbeOutput('h', req, out(lines))).toThrow(/reported too large to hash at 12 bytes/);
  });
});

describe('installed versions in the probe', () => {
  const CLAUDE = '/usr/local/bin/claude';
  const versions: ProbeRequest = { ...req, packages: ['otelcol-contrib', 'tempo'], programs: [CLAUDE] };
  const body = (lines: string[]) => out([...good.slice(0, -1), ...lines, 'end 3 2']);
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  it("reads dpkg records (only an installed state counts) and a program's --version, with cache entries", () => {
    const r = parseProbeOutput(
      'h',
      versions,
      body([
        'packages-begin 2049:77:100:1.000000000:1.000000000',
        'otelcol-contrib\tii \t0.123.0',
        'tempo\trc \t2.8.1',
        'packages-end',
        `program 0 2049:9:10:1.000000000:1.000000000 ${b64('2.1.90 (Claude Code)\n')}`,
      ]),
    );
    expect(r.observed.packages).toEqual({ 'otelcol-contrib': '0.123.0', tempo: null });
    expect(r.observed.programs).toEqual({ [CLAUDE]: '2.1.90' });
    expect(r.knownPackages?.signature).toBe('2049:77:100:1.000000000:1.000000000');
    // Unchanged since: nothing is read again, the cache answers.
    const again = parseProbeOutput(
      'h',
      { ...versions, knownPackages: r.knownPackages, knownPrograms: r.knownPrograms },
      body(['packages-same', 'program 0 same']),
    );
    expect(again.observed.packages).toEqual(r.observed.packages);
    expect(again.observed.programs).toEqual(r.observed.programs);
  });

  it.each([
    ['it', '0.123.0'],
    ['iW', '0.123.0'],
    ['iU', null],
    ['iF', null],
    ['iH', null],
    ['pc', null],
  ])('dpkg state %s reads as installed version %s', (abbrev, version) => {
    const r = parseProbeOutput(
      'h',
      versions,
      body([
        'packages-begin 2049:77:100:1.000000000:1.000000000',
        `otelcol-contrib\t${abbrev} \t0.123.0`,
        'packages-end',
        'program 0 -',
      ]),
    );
    expect(r.observed.packages?.['otelcol-contrib']).toBe(version);
  });

  it('a host without dpkg, and a missing program, are said as such', () => {
    const r = parseProbeOutput('h', versions, body(['packages-unavailable', 'program 0 -']));
    expect(r.observed.packagesUnreadable).toBe('dpkg-query is not installed');
    expect(r.observed.programs).toEqual({});
  });

  it.each([
    [
      'a package nobody asked for',
      ['packages-begin 1:2:3:4.000000000:5.000000000', 'evil\tii \t1.0', 'packages-end', 'program 0 -'],
      /not asked for/,
    ],
    [
      'a record that is not one',
      ['packages-begin 1:2:3:4.000000000:5.000000000', '\x1b]52;c;boom\x07', 'packages-end', 'program 0 -'],
      /not a dpkg-query record/,
    ],
    ['"same" without a cache', ['packages-same', 'program 0 -'], /without a matching cache/],
    [
      'a program record out of order',
      ['packages-unavailable', 'program 1 -'],
      /program record 1 where 0 was due/,
    ],
  ])('rejects %s', (_name, lines, message) => {
    expect(() => parseProbeOutput('h', versions, body(lines))).toThrow(message);
  });

  it('the script asks dpkg only when its database changed, and refuses names that are not package names', () => {
    const known = { signature: 'SIG', names: 'otelcol-contrib tempo', versions: {} };
    const s = buildProbeScript({ ...versions, knownPackages: known });
    expect(s).toContain(`if [ "$s" = SIG ]; then echo packages-same`);
    expect(() => buildProbeScript({ ...req, packages: ['x; rm -rf /'] })).toThrow(DesiredStateError);
    expect(() => buildProbeScript({ ...req, programs: ['claude'] })).toThrow(DesiredStateError);
  });
});

describe('buildProbeScript', () => {
  it('spawns one stat, one sha256sum and one systemctl at most, and hashes only unknown signatures', () => {
    const s = buildProbeScript({ ...req, known: { '/etc/a.conf': { signature: SIG, sha256: H } } });
    expect(s.match(/stat -c "\$F" -- "\$@"/g)).toHaveLength(1);
    expect(s.match(/sha256sum -- "\$@"/g)).toHaveLength(1);
    expect(s.match(/systemctl show/g)).toHaveLength(1);
    expect(s).toContain(`k0=${SIG}`);
    expect(s).not.toContain('k1=');
  });

  it('refuses relative paths and non-unit names before anything is sent', () => {
    expect(() => buildProbeScript({ paths: ['etc/x'], units: [] })).toThrow(DesiredStateError);
    expect(() => buildProbeScript({ paths: [], units: ['a b.service'] })).toThrow(DesiredStateError);
    expect(() => buildProbeScript({ paths: [], units: ['--now'] })).toThrow(DesiredStateError);
  });
});
