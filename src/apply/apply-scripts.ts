import { createHash } from 'node:crypto';
import { ProtocolError } from '../core/errors.js';
import type { ValidatorSpec } from '../core/model.js';
import { quoteArg, quoteArgv } from '../ssh/quote.js';

/**
 * Pure builders of the POSIX sh scripts that apply runs on a host (through one persistent shell), and strict
 * parsers of what they print. Every variable part goes through `quoteArg`; file contents travel as base64 in a
 * quoted heredoc, so no byte of user data is ever read by the shell as code.
 *
 * On-host layout under `stateRoot` (default /var/lib/hostop, mode 0700):
 *   managed.json       which paths hostop manages, for which resource (the ownership inventory)
 *   backup/<id>        the previous version of a path, taken just before it is replaced (rollback)
 *   original/<id>      the version found before hostop first managed the path (restored when pruned)
 */
export const DEFAULT_STATE_ROOT = '/var/lib/hostop';

/**
 * First line of every script that changes a host. Once a script has reached the host it must run to its end even
 * if the connection drops: the shell's stdout is then a broken pipe, and without this the first `printf` after the
 * drop kills it with SIGPIPE — after a target was renamed but before its unit was restarted, so the host kept
 * running the old config while the next pass saw the new file and found nothing to do. Ignored, a write just fails.
 */
const RUN_TO_THE_END = "umask 077; trap '' PIPE";

/** The candidate sits beside its target so the final rename is atomic (same filesystem). */
export function tempPathFor(path: string): string {
  const i = path.lastIndexOf('/');
  return `${path.slice(0, i)}/.${path.slice(i + 1)}.hostop-new`;
}

/** A stable, filename-safe id for a target path. */
export function pathId(path: string): string {
  return createHash('sha256').update(path).digest('hex').slice(0, 32);
}

export interface StageItem {
  path: string;
  content: string;
  mode: string;
  owner: string;
  group: string;
  validate?: ValidatorSpec;
}

export interface StageResult {
  /** 0 when the candidate was written with its mode and owner. */
  written: number;
  /** Exit code of the validator (undefined when there is none); 124 means it was killed at its deadline. */
  validatorCode?: number;
  /** First few KB of the validator's combined output (or of the staging error). */
  output: string;
}

/**
 * `(set -C; base64 -d > TMP) <<'HOSTOP_DATA_END' &&` + the data + the delimiter line: the next command
 * continues the `&&` chain on the line after the delimiter. base64 has no `_`, so the data cannot end the heredoc.
 */
function writeFromHeredoc(tmp: string, content: string): string {
  const b64 = Buffer.from(content, 'utf8')
    .toString('base64')
    .replace(/.{1,76}/g, '$&\n');
  return `(set -C; base64 -d > ${tmp}) <<'HOSTOP_DATA_END' &&\n${b64}HOSTOP_DATA_END\n`;
}

/** Writes `content` to `path` via a sibling temp file and an atomic rename (used for small state files). */
function atomicWrite(path: string, content: string, mode: string): string {
  const t = quoteArg(tempPathFor(path));
  return `rm -f -- ${t} && ${writeFromHeredoc(t, content)}chmod ${quoteArg(mode)} ${t} && mv -fT -- ${t} ${quoteArg(path)}`;
}

/**
 * Stage: write every candidate next to its target (refusing parents reached through a symlink and a
 * pre-existing temp path of any kind), set mode and owner, then run its validator under `timeout`.
 * Missing parent directories are created 0755 like any directory under /etc (the script's umask 077 is for the
 * candidates; a directory only root can enter would hide a 0644 file from the service that reads it).
 * Prints `staged I RC B64ERR` and, when a validator ran, `validated I RC B64OUT` per item.
 */
export function stageScript(items: StageItem[]): string {
  const lines = [RUN_TO_THE_END];
  items.forEach((it, i) => {
    const dir = it.path.slice(0, it.path.lastIndexOf('/')) || '/';
    const d = quoteArg(dir);
    const t = quoteArg(tempPathFor(it.path));
    lines.push(
      `err=$( { (umask 022 && mkdir -p -- ${d}) && [ "$(cd -P -- ${d} && pwd)" = ${d} ] || { printf 'parent directory %s is missing or reached through a symlink\\n' ${d}; exit 3; }; ` +
        `rm -f -- ${t} && ${writeFromHeredoc(t, it.content)}` +
        `chown -- ${quoteArg(`${it.owner}:${it.group}`)} ${t} && chmod -- ${quoteArg(it.mode)} ${t}; } 2>&1 )`,
      `rc=$?; [ $rc -ne 0 ] && rm -f -- ${t}; printf 'staged ${i} %s %s\\n' $rc "$(printf '%s' "$err" | head -c 2000 | base64 | tr -d '\\n')"`,
    );
    if (it.validate) {
      // A replacer function: a replacement string would read `$$`, `$&` or `$'` in the path as patterns.
      const argv = it.validate.argv.map((a) => a.replaceAll('{}', () => tempPathFor(it.path)));
      const secs = Math.max(1, Math.ceil(it.validate.timeoutMs / 1000));
      lines.push(
        `if [ $rc -eq 0 ]; then out=$(timeout -k 2 ${secs} ${quoteArgv(argv)} 2>&1 </dev/null); vrc=$?; ` +
          `printf 'validated ${i} %s %s\\n' $vrc "$(printf '%s' "$out" | head -c 4000 | base64 | tr -d '\\n')"; fi`,
      );
    }
  });
  return `${lines.join('\n')}\n`;
}

export function parseStageOutput(stdout: string, count: number, host: string): StageResult[] {
  const results: StageResult[] = Array.from({ length: count }, () => ({ written: -1, output: '' }));
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const m = /^(staged|validated) (\d+) (\d+) ?([A-Za-z0-9+/=]*)$/.exec(line);
    const r = m ? results[Number(m[2])] : undefined;
    if (!m || !r)
      throw new ProtocolError(
        `unexpected line from the stage script: ${JSON.stringify(line.slice(0, 200))}`,
        { host },
      );
    const text = Buffer.from(m[4] ?? '', 'base64').toString('utf8');
    if (m[1] === 'staged') {
      r.written = Number(m[3]);
      r.output = text;
    } else {
      r.validatorCode = Number(m[3]);
      r.output = text;
    }
  }
  const missing = results.findIndex((r) => r.written < 0);
  if (missing >= 0) throw new ProtocolError(`stage script output ends before item ${missing}`, { host });
  return results;
}

export interface ActivateItem {
  path: string;
  /** Take the pre-hostop copy into original/ (first time hostop manages an existing path). */
  keepOriginal: boolean;
}

export interface UnitAction {
  unit: string;
  action: 'start' | 'stop' | 'enable' | 'disable' | 'reload' | 'restart';
}

/**
 * Activate: back up each current target, rename each staged candidate over it (atomic), record the new
 * inventory, then `daemon-reload` if asked and each unit action once.
 * Prints `activated I RC existed|absent` per item and `unit I RC BEFORE AFTER B64OUT` per action.
 */
export function activateScript(
  items: ActivateItem[],
  opts: {
    stateRoot: string;
    inventory: string;
    daemonReload: boolean;
    units: UnitAction[];
    chmods?: ChmodItem[];
  },
): string {
  const root = opts.stateRoot;
  const lines = [
    RUN_TO_THE_END,
    `mkdir -p -- ${quoteArg(`${root}/backup`)} ${quoteArg(`${root}/original`)} && chmod 700 -- ${quoteArg(root)}`,
  ];
  items.forEach((it, i) => {
    const p = quoteArg(it.path);
    const b = quoteArg(`${root}/backup/${pathId(it.path)}`);
    const o = quoteArg(`${root}/original/${pathId(it.path)}`);
    const original = it.keepOriginal ? ` && { [ -e ${o} ] || cp -a -- ${p} ${o}; }` : '';
    lines.push(
      `if [ -e ${p} ] || [ -L ${p} ]; then st=existed; rm -rf -- ${b} && cp -a -- ${p} ${b}${original}; else st=absent; rm -rf -- ${b}; fi && ` +
        `mv -fT -- ${quoteArg(tempPathFor(it.path))} ${p}; printf 'activated ${i} %s %s\\n' $? $st`,
    );
  });
  (opts.chmods ?? []).forEach((c, i) => {
    lines.push(
      `chown -h -- ${quoteArg(`${c.owner}:${c.group}`)} ${quoteArg(c.path)} && chmod -- ${quoteArg(c.mode)} ${quoteArg(c.path)}; printf 'fixed ${i} %s\\n' $?`,
    );
  });
  lines.push(`${atomicWrite(`${root}/managed.json`, opts.inventory, '0600')}; printf 'inventory %s\\n' $?`);
  if (opts.daemonReload) lines.push(`systemctl daemon-reload; printf 'daemon-reload %s\\n' $?`);
  lines.push(...unitActionLines(opts.units));
  return `${lines.join('\n')}\n`;
}

/** What one `systemctl ACTION UNIT` did, as the activate and restore scripts report it. */
export interface UnitResult {
  /** systemctl's exit status (not a pipe's: a failed reload must be seen as failed). */
  code: number;
  /** The unit's ExecMainStartTimestampMonotonic before and after: a restart that happened moves it. */
  mainStartBefore: string;
  mainStartAfter: string;
  /** systemctl's own words (first 2000 bytes), e.g. "Job type reload is not applicable for unit …". */
  output: string;
}

/**
 * One line per unit action: the main process's start time before and after (systemd.exec(5): a new main
 * process sets ExecMainStartTimestampMonotonic), systemctl's exit status and output.
 * Prints `unit I RC BEFORE AFTER B64OUT`.
 */
function unitActionLines(units: UnitAction[]): string[] {
  return units.map((u, i) => {
    const unit = quoteArg(u.unit);
    const started = `systemctl show -p ExecMainStartTimestampMonotonic --value -- ${unit} 2>/dev/null`;
    return (
      `b=$(${started}); out=$(systemctl ${u.action} -- ${unit} </dev/null 2>&1); rc=$?; a=$(${started}); ` +
      `printf 'unit ${i} %s %s %s %s\\n' $rc "\${b:-0}" "\${a:-0}" "$(printf '%s' "$out" | head -c 2000 | base64 | tr -d '\\n')"`
    );
  });
}

const UNIT_LINE = /^unit (\d+) (\d+) (\d+) (\d+) ([A-Za-z0-9+/]*={0,2})$/;

function unitResult(m: RegExpExecArray): UnitResult {
  return {
    code: Number(m[2]),
    mainStartBefore: m[3] as string,
    mainStartAfter: m[4] as string,
    output: Buffer.from(m[5] as string, 'base64').toString('utf8'),
  };
}

export interface ChmodItem {
  path: string;
  mode: string;
  owner: string;
  group: string;
}

export interface ActivateResult {
  activated: { code: number; existed: boolean }[];
  fixed: number[];
  inventory: number;
  daemonReload?: number;
  units: UnitResult[];
}

export function parseActivateOutput(stdout: string, items: number, host: string): ActivateResult {
  const out: ActivateResult = { activated: [], fixed: [], inventory: -1, units: [] };
  parseLines(stdout, 'activate', host, [
    [
      /^activated (\d+) (\d+) (existed|absent)$/,
      (m) => {
        out.activated[Number(m[1])] = { code: Number(m[2]), existed: m[3] === 'existed' };
      },
    ],
    [
      /^fixed (\d+) (\d+)$/,
      (m) => {
        out.fixed[Number(m[1])] = Number(m[2]);
      },
    ],
    [
      /^inventory (\d+)$/,
      (m) => {
        out.inventory = Number(m[1]);
      },
    ],
    [
      /^daemon-reload (\d+)$/,
      (m) => {
        out.daemonReload = Number(m[1]);
      },
    ],
    [
      UNIT_LINE,
      (m) => {
        out.units[Number(m[1])] = unitResult(m);
      },
    ],
  ]);
  if (out.activated.filter(Boolean).length !== items || out.inventory < 0) {
    throw new ProtocolError('activate script output is incomplete (connection lost mid-apply?)', { host });
  }
  return out;
}

/** Dispatches every non-empty line to the first matching handler; any other line is a ProtocolError. */
function parseLines(
  stdout: string,
  script: string,
  host: string,
  handlers: [RegExp, (m: RegExpExecArray) => unknown][],
): void {
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const hit = handlers.find(([re]) => re.test(line));
    if (!hit)
      throw new ProtocolError(
        `unexpected line from the ${script} script: ${JSON.stringify(line.slice(0, 200))}`,
        { host },
      );
    hit[1](hit[0].exec(line)!);
  }
}

export interface RestoreItem {
  path: string;
  /** The path existed before this apply: put the backup back; otherwise remove what apply created. */
  existed: boolean;
  /** Where to restore from (backup/ for rollback, original/ for prune). */
  from: 'backup' | 'original';
}

/**
 * Restore files (rollback of a failed change, or prune of a file whose resource left), rewrite the inventory,
 * and run unit actions. Restoring is itself atomic: copy beside the target, then rename over it.
 * Prints `restored I RC`, `inventory RC`, `unit I RC BEFORE AFTER B64OUT`.
 */
export function restoreScript(
  items: RestoreItem[],
  opts: { stateRoot: string; inventory: string; daemonReload: boolean; units: UnitAction[] },
): string {
  const lines = [RUN_TO_THE_END];
  items.forEach((it, i) => {
    const p = quoteArg(it.path);
    const src = quoteArg(`${opts.stateRoot}/${it.from}/${pathId(it.path)}`);
    const t = quoteArg(tempPathFor(it.path));
    // A pruned path whose original was never copied was never rewritten by hostop: it stays as it is.
    const restore = `rm -f -- ${t} && cp -a -- ${src} ${t} && mv -fT -- ${t} ${p}`;
    const body = !it.existed
      ? `rm -f -- ${p}`
      : it.from === 'original'
        ? `if [ -e ${src} ] || [ -L ${src} ]; then ${restore} && rm -f -- ${src}; fi`
        : restore;
    lines.push(`${body}; printf 'restored ${i} %s\\n' $?`);
  });
  lines.push(
    `${atomicWrite(`${opts.stateRoot}/managed.json`, opts.inventory, '0600')}; printf 'inventory %s\\n' $?`,
  );
  if (opts.daemonReload) lines.push(`systemctl daemon-reload; printf 'daemon-reload %s\\n' $?`);
  lines.push(...unitActionLines(opts.units));
  return `${lines.join('\n')}\n`;
}

export function parseRestoreOutput(
  stdout: string,
  host: string,
): { restored: number[]; inventory: number; units: UnitResult[] } {
  const out = { restored: [] as number[], inventory: -1, units: [] as UnitResult[] };
  parseLines(stdout, 'restore', host, [
    [
      /^restored (\d+) (\d+)$/,
      (m) => {
        out.restored[Number(m[1])] = Number(m[2]);
      },
    ],
    [
      /^inventory (\d+)$/,
      (m) => {
        out.inventory = Number(m[1]);
      },
    ],
    [/^daemon-reload \d+$/, () => undefined],
    [
      UNIT_LINE,
      (m) => {
        out.units[Number(m[1])] = unitResult(m);
      },
    ],
  ]);
  if (out.inventory < 0) throw new ProtocolError('restore script output is incomplete', { host });
  return out;
}
