import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFetchScript, parseFetchOutput } from '../../../src/probe/fetch-script.js';
import { parseProbeOutput } from '../../../src/probe/probe-parse.js';
import { type ProbeRequest, buildProbeScript } from '../../../src/probe/probe-script.js';

// The probe and fetch scripts run here against a real local sh and filesystem; the lab tests run them
// on real hosts. Names and contents are hostile: a canary file proves nothing in them was executed.
const dir = mkdtempSync(join(tmpdir(), 'hostop-probe-'));
const canary = join(dir, 'CANARY');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hostile = [
  'plain.conf',
  'with space.yaml',
  "it's quoted",
  'new\nline',
  '$(touch CANARY)',
  '`touch CANARY`',
  '-leading-dash',
  'back\\slash',
  'grüße ☃.txt',
  '*',
];
const files = hostile.map((n) => join(dir, n));
files.forEach((f, i) =>
  writeFileSync(
    f,
    i === 3 ? '' : `content of ${JSON.stringify(f)}\n$(touch ${canary})\n\`touch ${canary}\`\n`,
  ),
);
mkdirSync(join(dir, 'sub dir'));
symlinkSync(files[0] as string, join(dir, 'link'));
symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));
execFileSync('mkfifo', [join(dir, 'fifo')]);
const others = ['sub dir', 'link', 'dangling', 'fifo', 'missing', 'missing/$(touch CANARY)'].map((n) =>
  join(dir, n),
);

function runProbe(req: ProbeRequest) {
  const stdout = execFileSync('sh', { input: buildProbeScript(req) }).toString('utf8');
  return { stdout, result: parseProbeOutput('local', req, stdout) };
}

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

describe('probe script + parser on a real sh and filesystem', () => {
  const paths = [...files, ...others];

  it('reports every path exactly as lstat and sha256 see it, executing nothing', () => {
    const { result } = runProbe({ paths, units: ['ssh.service'] });
    expect(existsSync(canary)).toBe(false);
    for (const p of paths) {
      const seen = result.observed.files[p];
      if (p.includes('missing')) {
        expect(seen).toEqual({ path: p, type: 'missing' });
        continue;
      }
      const st = lstatSync(p);
      const type = st.isFile()
        ? 'file'
        : st.isDirectory()
          ? 'dir'
          : st.isSymbolicLink()
            ? 'symlink'
            : 'other';
      expect(seen, p).toMatchObject({
        path: p,
        type,
        size: st.size,
        mode: (st.mode & 0o7777).toString(8).padStart(4, '0'),
        owner: userInfo().username,
      });
      expect(seen?.sha256, p).toBe(type === 'file' ? sha(p) : undefined);
    }
    expect(result.observed.files[join(dir, 'dangling')]?.type).toBe('symlink');
    expect(result.observed.facts.hostname).toBe(readFileSync('/proc/sys/kernel/hostname', 'utf8').trim());
    expect(result.observed.facts.os).not.toMatch(/^"/);
    // This machine has no systemd as PID 1: units are reported as unknown, not guessed.
    expect(result.observed.facts.systemd).toBe(existsSync('/run/systemd/system'));
    if (!result.observed.facts.systemd) {
      expect(result.observed.units['ssh.service']).toEqual({
        unit: 'ssh.service',
        active: 'unknown',
        enabled: '',
        load: 'unknown',
      });
    }
    expect(Object.keys(result.known).sort()).toEqual(files.slice().sort());
  });

  it('a warm pass with unchanged signatures hashes nothing and reuses the known hashes', () => {
    const first = runProbe({ paths, units: [] });
    const warm = runProbe({ paths, units: [], known: first.result.known });
    expect(warm.stdout).not.toMatch(/^sha256 /m);
    expect(warm.result.observed).toEqual(first.result.observed);
  });

  it('hashes again exactly the file that changed', () => {
    const first = runProbe({ paths: files, units: [] });
    writeFileSync(files[1] as string, 'changed\n');
    const next = runProbe({ paths: files, units: [], known: first.result.known });
    expect(next.stdout.match(/^sha256 .*/gm)).toEqual([`sha256 1 ${sha(files[1] as string)}`]);
    expect(next.result.observed.files[files[1] as string]?.sha256).toBe(sha(files[1] as string));
  });

  it('returns inline contents of regular files only, byte for byte, executing nothing', () => {
    const inline = [
      files[4] as string,
      files[3] as string,
      join(dir, 'link'),
      join(dir, 'sub dir'),
      join(dir, 'missing'),
    ];
    const { result } = runProbe({ paths: [files[0] as string], units: [], inline });
    expect(result.observed.contents).toEqual({
      [files[4] as string]: readFileSync(files[4] as string, 'utf8'),
      [files[3] as string]: '',
    });
    expect(runProbe({ paths: [files[0] as string], units: [] }).result.observed.contents).toBeUndefined();
    expect(existsSync(canary)).toBe(false);
  });

  it('fetches contents by path, bounded in size, executing nothing', () => {
    const big = join(dir, 'big file');
    writeFileSync(big, 'x'.repeat(5000));
    const want = [
      files[4] as string,
      files[3] as string,
      big,
      join(dir, 'sub dir'),
      join(dir, 'link'),
      join(dir, 'missing'),
    ];
    const stdout = execFileSync('sh', { input: buildFetchScript(want, 4096) }).toString('latin1');
    const got = parseFetchOutput('local', want, 4096, stdout);
    expect(got[files[4] as string]).toEqual({
      path: files[4],
      kind: 'content',
      content: readFileSync(files[4] as string),
    });
    expect(got[files[3] as string]).toEqual({ path: files[3], kind: 'content', content: Buffer.alloc(0) });
    expect(got[big]?.kind).toBe('too-large');
    expect(got[join(dir, 'sub dir')]?.kind).toBe('not-file');
    expect(got[join(dir, 'link')]?.kind).toBe('not-file');
    expect(got[join(dir, 'missing')]?.kind).toBe('missing');
    expect(existsSync(canary)).toBe(false);
  });

  it("reads below a user's directory as that user: a root-only file there is unreadable, not shown", () => {
    const base = mkdtempSync(join(tmpdir(), 'hostop-fetch-'));
    chmodSync(base, 0o755);
    const home = join(base, 'home');
    mkdirSync(home);
    chownSync(home, 65534, 65534); // nobody
    const own = join(home, 'own.conf');
    writeFileSync(own, 'mine\n');
    chownSync(own, 65534, 65534);
    // What a racer would get by swapping in a hard link to a root file (or winning a symlink race).
    const rootOnly = join(home, 'root.conf');
    writeFileSync(rootOnly, 'root secret\n', { mode: 0o600 });
    const want = [own, rootOnly];
    const stdout = execFileSync('sh', { input: buildFetchScript(want, 4096) }).toString('latin1');
    const got = parseFetchOutput('local', want, 4096, stdout);
    expect(got[own]).toEqual({ path: own, kind: 'content', content: Buffer.from('mine\n') });
    expect(got[rootOnly]?.kind).toBe('unreadable');
    rmSync(base, { recursive: true, force: true });
  });
});

describe('versions, read by the real dpkg-query and a real program on this machine', () => {
  it('reports an installed package, a missing one, and `PROGRAM --version`; the second run asks nothing again', () => {
    const req: ProbeRequest = {
      paths: [],
      units: [],
      packages: ['dpkg', 'hostop-no-such-package'],
      programs: [process.execPath, join(dir, 'no-such-program')],
    };
    const first = runProbe(req).result;
    const dpkg = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'dpkg']).toString();
    expect(first.observed.packages).toEqual({ dpkg, 'hostop-no-such-package': null });
    expect(first.observed.programs).toEqual({ [process.execPath]: process.versions.node });
    const script = buildProbeScript({
      ...req,
      knownPackages: first.knownPackages,
      knownPrograms: first.knownPrograms,
    });
    const stdout = execFileSync('sh', { input: script }).toString('utf8');
    expect(stdout).toContain('packages-same\n');
    expect(stdout).toContain('program 0 same\n');
    const again = parseProbeOutput(
      'local',
      { ...req, knownPackages: first.knownPackages, knownPrograms: first.knownPrograms },
      stdout,
    );
    expect(again.observed.programs).toEqual(first.observed.programs);
  });
});

describe('a huge (sparse) managed file', () => {
  it('a text file of another size than the wanted one is reported changed without being hashed', () => {
    const grown = join(dir, 'grown.txt');
    writeFileSync(grown, 'x'.repeat(10_000));
    const wanted = join(dir, 'wanted.txt');
    writeFileSync(wanted, 'same\n');
    const req = { paths: [grown, wanted], units: [], sizes: { [grown]: 5, [wanted]: 5 } };
    const { stdout, result } = runProbe(req);
    expect(result.observed.files[grown]).toMatchObject({
      type: 'file',
      size: 10_000,
      sha256: 'other-size:10000',
    });
    expect(stdout).not.toContain(sha(grown)); // never read
    expect(result.known[grown]).toBeUndefined();
    expect(result.observed.files[wanted]?.sha256).toBe(sha(wanted));
    rmSync(grown);
    rmSync(wanted);
  });

  it('is reported too large to hash instead of being read: a 200 GB sparse file costs one stat', () => {
    const big = join(dir, 'sparse-200G');
    execFileSync('truncate', ['-s', '200G', big]);
    const small = join(dir, 'plain.conf');
    const { result } = runProbe({ paths: [big, small], units: [] });
    expect(result.observed.files[big]).toMatchObject({
      type: 'file',
      size: 200 * 1024 ** 3,
      sha256: `too-large:${200 * 1024 ** 3}`,
    });
    expect(result.known[big]).toBeUndefined();
    expect(result.observed.files[small]?.sha256).toBe(sha(small));
    rmSync(big);
  });
});
