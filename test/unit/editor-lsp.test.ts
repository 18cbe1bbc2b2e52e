import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/temp.js';

// The editor schemas (crds/json-schema) used as the README tells users to, by the real yaml-language-server over
// its stdio LSP protocol, as VS Code, Neovim or Helix would drive it: the workspace is the repository and the
// setting is the README's `"yaml.schemas": { "./crds/json-schema/hostop.json": ["desired-state/**/*.yaml"] }`.
// Proven here: (1) an unknown field, a wrong type and a missing required field are each published as a
// diagnostic at the right line, and nothing else is; (2) every file of the reference fleet gets no diagnostic;
// (3) completion inside a File's `spec:` offers `path`, `content` and `mode`.
//
// No sleeps: the server pulls its settings (`workspace/configuration`) when `initialized` arrives, and answers
// `textDocument/codeLens` only once that pull is applied (languageHandlers.js awaits configurationPullPromise).
// Documents are opened after that answer, so the one `publishDiagnostics` each open triggers (debounced per URI,
// validationHandlers.js) is computed with the schema in place: the first set published for a URI is its final one.
// (Opened before the settings are applied, a file is first published with no diagnostics, then revalidated.)

const ROOT = join(import.meta.dirname, '../..');
const require = createRequire(import.meta.url);
const SERVER_DIR = dirname(require.resolve('yaml-language-server/package.json'));
const SERVER_BIN = join(
  SERVER_DIR,
  (JSON.parse(readFileSync(join(SERVER_DIR, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin[
    'yaml-language-server'
  ]!,
);

/** The README's workspace setting; schemaStore and the CRD store are off so the server never goes online. */
const YAML_SETTINGS = {
  validate: true,
  completion: true,
  schemas: { './crds/json-schema/hostop.json': ['desired-state/**/*.yaml'] },
  schemaStore: { enable: false },
  kubernetesCRDStore: { enable: false },
};

interface Message {
  jsonrpc: '2.0';
  id?: number | string;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { code: number; message: string };
}
interface Position {
  line: number;
  character: number;
}
interface Diagnostic {
  range: { start: Position; end: Position };
  message: string;
}
interface PublishDiagnostics {
  uri: string;
  diagnostics: Diagnostic[];
}
interface CompletionItem {
  label: string;
}

/**
 * A minimal LSP client over a child's stdio: Content-Length framing, one promise per request, every notification
 * kept (so a waiter registered late still sees it), and the server's own requests answered by `answer`.
 */
class LspClient {
  private buffer = Buffer.alloc(0);
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly notifications: { method: string; params: unknown; taken: boolean }[] = [];
  private readonly waiters: {
    method: string;
    match: (params: unknown) => boolean;
    resolve: (p: unknown) => void;
    reject: (e: Error) => void;
  }[] = [];
  stderr = '';

  constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly answer: (method: string, params: unknown) => unknown,
  ) {
    child.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    child.on('exit', (code, signal) => {
      const error = new Error(`yaml-language-server exited (${code ?? signal}): ${this.stderr}`);
      for (const p of [...this.pending.values(), ...this.waiters]) p.reject(error);
      this.pending.clear();
      this.waiters.length = 0;
    });
  }

  request<T>(method: string, params: unknown): Promise<T> {
    const id = this.nextId++;
    const response = new Promise<T>((resolve, reject) =>
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject }),
    );
    this.send({ jsonrpc: '2.0', id, method, params });
    return response;
  }

  notify(method: string, params: unknown): void {
    this.send({ jsonrpc: '2.0', method, params });
  }

  /** The first notification `method` matching `match` not already taken by an earlier wait, now or later. */
  next<P>(method: string, match: (params: P) => boolean = () => true): Promise<P> {
    const seen = this.notifications.find((n) => !n.taken && n.method === method && match(n.params as P));
    if (seen) {
      seen.taken = true;
      return Promise.resolve(seen.params as P);
    }
    return new Promise<P>((resolve, reject) =>
      this.waiters.push({ method, match: (p) => match(p as P), resolve: (p) => resolve(p as P), reject }),
    );
  }

  /** The diagnostics published for `uri` (the first set not yet taken). */
  async diagnostics(uri: string): Promise<Diagnostic[]> {
    return (await this.next<PublishDiagnostics>('textDocument/publishDiagnostics', (p) => p.uri === uri))
      .diagnostics;
  }

  private send(message: Message): void {
    const body = Buffer.from(JSON.stringify(message), 'utf8');
    this.child.stdin.write(
      Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]),
    );
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const headerEnd = this.buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const length = /Content-Length: (\d+)/i.exec(this.buffer.subarray(0, headerEnd).toString('ascii'));
      if (!length) throw new Error(`LSP header without Content-Length: ${this.buffer.toString()}`);
      const start = headerEnd + 4;
      const end = start + Number(length[1]);
      if (this.buffer.length < end) return;
      const message = JSON.parse(this.buffer.subarray(start, end).toString('utf8')) as Message;
      this.buffer = this.buffer.subarray(end);
      this.dispatch(message);
    }
  }

  private dispatch(message: Message): void {
    if (message.method !== undefined && message.id !== undefined) {
      const result = this.answer(message.method, message.params);
      this.send(
        result === undefined
          ? {
              jsonrpc: '2.0',
              id: message.id,
              error: { code: -32601, message: `unhandled ${message.method}` },
            }
          : { jsonrpc: '2.0', id: message.id, result },
      );
    } else if (message.method !== undefined) {
      const waiter = this.waiters.find((w) => w.method === message.method && w.match(message.params));
      if (waiter) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(message.params);
      }
      this.notifications.push({
        method: message.method,
        params: message.params,
        taken: waiter !== undefined,
      });
    } else if (typeof message.id === 'number') {
      const pending = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) pending?.reject(new Error(`${message.error.code} ${message.error.message}`));
      else pending?.resolve(message.result ?? null);
    }
  }
}

/** What an editor answers the server's requests with: the settings it pulls, null for the rest it knows. */
function answerServer(method: string, params: unknown): unknown {
  switch (method) {
    case 'workspace/configuration':
      return (params as { items: { section?: string }[] }).items.map((item) =>
        item.section === 'yaml' ? YAML_SETTINGS : item.section === 'http' ? {} : null,
      );
    case 'client/registerCapability':
    case 'client/unregisterCapability':
    case 'window/workDoneProgress/create':
    case 'workspace/codeLens/refresh':
      return null;
    default:
      return undefined;
  }
}

const yamlFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : [],
  );

// Three File documents, each with one mistake (its 0-based line is given below the text).
const BROKEN = `---
apiVersion: hostop.dev/v1alpha1
kind: File
metadata:
  name: motd
spec:
  hosts: [web-01]
  path: /etc/motd
  content: "hello\\n"
  modee: "0644"
---
apiVersion: hostop.dev/v1alpha1
kind: File
metadata:
  name: issue
spec:
  hosts: [web-01]
  path: /etc/issue
  content: "hi\\n"
  mode: 644
---
apiVersion: hostop.dev/v1alpha1
kind: File
metadata:
  name: hostname
spec:
  hosts: [web-01]
  path: /etc/hostname
`;
// line 9: `modee` (unknown), line 19: `mode: 644` (a number, not a string), line 25: `spec:` without `content`.

// A File being written: the cursor is on the empty indented line under `spec:` (line 7, column 2).
const EDITING = `apiVersion: hostop.dev/v1alpha1
kind: File
metadata:
  name: motd
spec:
  hosts:
    - web-01
  
`;

describe('editor schemas in yaml-language-server', { timeout: 120_000 }, () => {
  let server: ChildProcessWithoutNullStreams;
  let lsp: LspClient;
  const dir = join(tempDir('hostop-lsp-'), 'desired-state');
  let version = 0;

  const open = (path: string, text = readFileSync(path, 'utf8')): string => {
    const uri = pathToFileURL(path).href;
    lsp.notify('textDocument/didOpen', {
      textDocument: { uri, languageId: 'yaml', version: ++version, text },
    });
    return uri;
  };

  beforeAll(async () => {
    mkdirSync(dir);
    server = spawn(process.execPath, [SERVER_BIN, '--stdio'], { cwd: ROOT, stdio: 'pipe' });
    lsp = new LspClient(server, answerServer);
    const rootUri = pathToFileURL(ROOT).href;
    await lsp.request('initialize', {
      processId: process.pid,
      rootUri,
      workspaceFolders: [{ uri: rootUri, name: basename(ROOT) }],
      capabilities: {
        workspace: { configuration: true },
        textDocument: {
          publishDiagnostics: {},
          completion: { completionItem: { snippetSupport: true } },
        },
      },
    });
    lsp.notify('initialized', {});
    // Returns once the settings pulled on `initialized` are applied: the schema mapping is in place from here on.
    await lsp.request('textDocument/codeLens', {
      textDocument: { uri: pathToFileURL(join(dir, 'none.yaml')).href },
    });
  }, 120_000);

  afterAll(async () => {
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    const exited = once(server, 'exit');
    server.kill();
    await exited;
  });

  it('reports an unknown field, a wrong type and a missing required field, at their lines', async () => {
    writeFileSync(join(dir, 'broken.yaml'), BROKEN);
    const diagnostics = await lsp.diagnostics(open(join(dir, 'broken.yaml')));
    const found = diagnostics
      .map(({ range: { start, end }, message }) => ({
        line: start.line,
        from: start.character,
        to: end.character,
        message,
      }))
      .sort((a, b) => a.line - b.line);
    // Each on the offending key or value: `modee`, `644` (under `mode:`), and `spec` (the object lacking `content`).
    expect(found).toEqual([
      { line: 9, from: 2, to: 7, message: 'Property modee is not allowed.' },
      { line: 19, from: 8, to: 11, message: 'Incorrect type. Expected "string".' },
      { line: 25, from: 0, to: 4, message: 'Missing property "content".' },
    ]);
  });

  it('reports nothing on the reference fleet', async () => {
    const files = yamlFiles(join(ROOT, 'desired-state'));
    expect(files.length).toBeGreaterThan(5);
    const uris = files.map((file) => open(file));
    const published = await Promise.all(
      uris.map(async (uri, i) => ({ file: files[i], diagnostics: await lsp.diagnostics(uri) })),
    );
    expect(published).toEqual(files.map((file) => ({ file, diagnostics: [] })));
    // Not vacuous: every file was checked against hostop.json (the request behind VS Code's schema status item).
    for (const uri of uris)
      expect((await lsp.request<{ uri: string }[]>('yaml/get/jsonSchema', uri)).map((s) => s.uri)).toEqual([
        pathToFileURL(join(ROOT, 'crds/json-schema/hostop.json')).href,
      ]);
  });

  it('completes the fields of a File spec', async () => {
    const path = join(dir, 'editing.yaml');
    writeFileSync(path, EDITING);
    const uri = open(path, EDITING);
    const completion = await lsp.request<{ items: CompletionItem[] } | CompletionItem[] | null>(
      'textDocument/completion',
      { textDocument: { uri }, position: { line: 7, character: 2 } },
    );
    const items = Array.isArray(completion) ? completion : (completion?.items ?? []);
    expect(items.map((i) => i.label)).toEqual(expect.arrayContaining(['path', 'content', 'mode']));
  });
});
