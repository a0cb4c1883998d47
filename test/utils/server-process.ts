/**
 * The real server process (`node dist/main.js`) for specs about what only a process can show:
 * signals, exit codes, restarts on the same data directory. `npm test` builds dist/ before jest
 * runs; a missing dist/main.js is a failure that says to run `npm run build`, never a skip.
 *
 * Readiness is detected over HTTP (GET /healthz answers 200), never by parsing log lines. The
 * process gets a clean environment (no REGISTRY_* from the caller's shell) and runs in its own
 * temp working directory, so a developer's `.env` in the repository is not loaded. Every process
 * started here is tracked and killed by PID by `killServerProcesses()` (call it in afterAll).
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { REPO_ROOT } from './images';
import { makeTempDir, removeDir } from './temp-dir';

export const MAIN_JS = path.join(REPO_ROOT, 'dist', 'main.js');

/** The path of dist/main.js; throws (failing the test) when it has not been built. */
export function requireBuiltServer(): string {
  if (!fs.existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} does not exist: run \`npm run build\` first (npm test does it before jest)`);
  return MAIN_JS;
}

/** A TCP port that was free a moment ago (bound to port 0 and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** When the process exited (Date.now()). */
  at: number;
}

const live = new Set<ChildProcess>();

export class ServerProcess {
  private output = '';
  readonly exited: Promise<ProcessExit>;

  constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly dataDir: string,
  ) {
    const keep = (b: Buffer): void => {
      this.output += b.toString();
      if (this.output.length > 256 * 1024) this.output = this.output.slice(-128 * 1024);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        resolve({ code, signal, at: Date.now() });
      });
    });
  }

  /** http://127.0.0.1:PORT */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines the process wrote (stdout and stderr), for failure messages. */
  logTail(lines = 30): string {
    return this.output.trimEnd().split('\n').slice(-lines).join('\n');
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child.pid === undefined || !this.alive) throw new Error(`cannot send ${signal}: the server process is not running`);
    process.kill(this.child.pid, signal);
  }

  /** The exit, or an error naming what happened if it takes longer than `ms`. */
  async waitForExit(ms: number): Promise<ProcessExit> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the server process did not exit within ${ms} ms; its log ends with:\n${this.logTail()}`)), ms);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM and wait (SIGKILL after `graceMs`); a no-op when it already exited. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    try {
      await this.waitForExit(graceMs);
    } catch {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

/**
 * Starts `node dist/main.js` on 127.0.0.1 and a free port with `env` (REGISTRY_AUTH=none unless
 * given) and the data directory `dataDir`; resolves once GET /healthz answers 200.
 */
export async function startServerProcess(opts: { dataDir: string; env?: Record<string, string>; port?: number; readyTimeoutMs?: number }): Promise<ServerProcess> {
  const main = requireBuiltServer();
  const port = opts.port ?? (await freePort());
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_') && !['PORT', 'HOST', 'DATABASE_URL'].includes(k)),
  );
  const cwd = makeTempDir('registry-process-cwd-');
  const child = spawn(process.execPath, [main], {
    cwd,
    env: {
      ...inherited,
      PORT: String(port),
      HOST: '127.0.0.1',
      REGISTRY_DATA_DIR: opts.dataDir,
      REGISTRY_AUTH: 'none',
      REGISTRY_LOG_LEVEL: 'info',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const server = new ServerProcess(child, port, opts.dataDir);
  void server.exited.then(() => removeDir(cwd));
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (!server.alive) {
      const exit = await server.exited;
      throw new Error(`node dist/main.js exited (${exit.signal ?? `code ${exit.code}`}) before answering /healthz; its log ends with:\n${server.logTail()}`);
    }
    const status = await fetch(`${server.url}/healthz`).then(
      async (r) => {
        await r.arrayBuffer();
        return r.status;
      },
      () => 0,
    );
    if (status === 200) return server;
    if (Date.now() > deadline) {
      await server.stop(2000);
      throw new Error(`node dist/main.js did not answer GET /healthz with 200 within ${opts.readyTimeoutMs ?? 30_000} ms; its log ends with:\n${server.logTail()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGKILLs (by PID) every server process started here that is still running. */
export function killServerProcesses(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
}
