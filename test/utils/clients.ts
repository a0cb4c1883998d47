/**
 * Running real registry clients (skopeo, podman, docker, containerd's ctr) from the real-client
 * specs, isolated from the machine and from each other, and always cleaned up.
 *
 * - Every child process runs asynchronously (the registry under test lives in this same process,
 *   so a synchronous spawn would deadlock it), in its own process group, with a hard timeout
 *   after which the whole group is killed.
 * - Each spec gets a ClientSandbox: one temp dir under os.tmpdir() that holds everything the
 *   clients write (podman storage, docker/containerd roots, sockets, auth files, pulled images).
 * - containers/image (skopeo, podman) keeps a global blob-info cache in /var/lib/containers/cache
 *   that would make a client mount blobs it saw in earlier runs. Those clients run under
 *   `unshare --mount` with the sandbox's own cache bind-mounted there, so a spec sees only what it
 *   pushed itself (and the cache survives between that spec's commands, which a mount needs).
 * - dockerd and containerd are private daemons (own root, unix sockets in the sandbox, no TCP),
 *   each in a private mount namespace so their mounts vanish with them; stopped by PID, then
 *   anything still running from the sandbox dir is killed by PID before the dir is removed.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { clientsRequired, missingImagesReason } from './images';

export type ClientName = 'skopeo' | 'podman' | 'docker' | 'ctr';

const BINARIES: Record<ClientName, string[]> = {
  skopeo: ['skopeo', 'unshare', 'mount', 'sh'],
  podman: ['podman', 'unshare', 'mount', 'sh'],
  docker: ['dockerd', 'containerd', 'docker', 'skopeo', 'unshare', 'mount', 'sh', 'tar'],
  ctr: ['containerd', 'ctr', 'unshare', 'tar'],
};
const DEBIAN_PACKAGES: Record<ClientName, string> = {
  skopeo: 'skopeo',
  podman: 'podman',
  docker: 'docker.io skopeo',
  ctr: 'containerd',
};

/** Absolute path of a binary on PATH (plus the sbin dirs, where dockerd lives), or undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Why a client cannot run on this machine, or undefined when it can. */
export function missingClientReason(name: ClientName): string | undefined {
  if (process.platform !== 'linux') return `${name} tests need Linux (this is ${process.platform})`;
  if (process.geteuid?.() !== 0) return `${name} tests need root (private daemons, mount namespaces)`;
  const missing = BINARIES[name].filter((b) => !findBinary(b));
  if (missing.length > 0) {
    return `${name} tests need ${missing.join(', ')} on PATH (apt-get install ${DEBIAN_PACKAGES[name]})`;
  }
  return undefined;
}

/**
 * Whether the client can be tested here. A missing client throws when REGISTRY_TEST_REQUIRE_CLIENTS=1
 * (CI: it must fail, not skip); otherwise it prints the reason and returns false.
 */
export function requireClient(name: ClientName): boolean {
  const reason = missingClientReason(name);
  if (!reason) return true;
  if (clientsRequired()) throw new Error(`REGISTRY_TEST_REQUIRE_CLIENTS=1 but ${reason}`);
  console.warn(`[real-clients] not running the ${name} tests: ${reason}`);
  return false;
}

/**
 * Why a real-client spec cannot run here (client or test images missing and not required), or
 * undefined when it runs. With REGISTRY_TEST_REQUIRE_CLIENTS=1 this never returns a reason: a
 * missing client throws, and missing images are built by ensureTestImages().
 */
export function realClientSkipReason(name: ClientName): string | undefined {
  if (!requireClient(name)) return missingClientReason(name);
  const images = missingImagesReason();
  if (images) console.warn(`[real-clients] not running the ${name} tests: ${images}`);
  return images;
}

// ------------------------------------------------------------------------------------ processes

export interface RunOptions {
  /** Hard limit; the process group is killed when it passes. Default 5 minutes. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Resolve with the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
}
export interface RunResult {
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export class CommandError extends Error {
  constructor(readonly result: RunResult, why: string) {
    super(`${why}: ${result.command}\n--- stderr (tail)\n${tail(result.stderr, 40)}\n--- stdout (tail)\n${tail(result.stdout, 15)}`);
  }
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

const MAX_CAPTURE = 32 * 1024 * 1024;
const live = new Set<ChildProcess>();

function quote(args: string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/**
 * Signals the child's process group (it was spawned detached, so it leads one). After the leader
 * has exited only `afterExit` callers may do this, right away, to catch members it left behind.
 */
function killGroup(child: ChildProcess, signal: NodeJS.Signals, afterExit = false): void {
  if (child.pid === undefined) return;
  if (!afterExit && (child.exitCode !== null || child.signalCode !== null)) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Runs a command to completion (async), capturing its output, bounded by a timeout. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const command = quote([cmd, ...args]);
  const timeoutMs = opts.timeoutMs ?? 5 * 60_000;
  const started = Date.now();
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    live.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    child.stdout.on('data', (b: Buffer) => {
      if ((outBytes += b.length) <= MAX_CAPTURE) out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      if ((errBytes += b.length) <= MAX_CAPTURE) err.push(b);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGTERM');
      setTimeout(() => killGroup(child, 'SIGKILL'), 5000).unref();
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(new Error(`cannot run ${command}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      killGroup(child, 'SIGKILL', true); // members the leader left behind in its group
      const result: RunResult = {
        command,
        code,
        signal,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        ms: Date.now() - started,
      };
      if (timedOut) reject(new CommandError(result, `timed out after ${timeoutMs} ms`));
      else if (code !== 0 && !opts.allowFailure) reject(new CommandError(result, `failed (${signal ?? `exit ${code}`})`));
      else resolve(result);
    });
  });
}

/** Kills (by PID, process group) every command started by run() that is still running. */
export function killRunningCommands(): void {
  for (const child of live) killGroup(child, 'SIGKILL');
  live.clear();
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, alive: () => boolean): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (!alive()) throw new Error(`${what}: process exited`);
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function unixGet(socketPath: string, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: urlPath, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
  });
}

// --------------------------------------------------------------------------------------- daemons

/** A daemon we started: its own process group, output in a log file, stopped by PID. */
class Daemon {
  private readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  isAlive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  logTail(lines = 30): string {
    try {
      return tail(fs.readFileSync(this.logFile, 'utf8'), lines);
    } catch {
      return '';
    }
  }

  /** SIGTERM, then SIGKILL to the whole group if it has not exited within graceMs. */
  async stop(graceMs = 20_000): Promise<void> {
    if (!this.isAlive()) return;
    killGroup(this.child, 'SIGTERM');
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref()),
    ]);
    if (timedOut) {
      killGroup(this.child, 'SIGKILL');
      await this.exited;
    }
    killGroup(this.child, 'SIGKILL', true); // children that outlived the leader (same group)
  }
}

/** A private dockerd (vfs, unix socket only, no iptables/bridge) and a docker CLI bound to it. */
export class Dockerd {
  constructor(
    private readonly sandbox: ClientSandbox,
    private readonly daemon: Daemon,
    readonly socket: string,
    readonly configDir: string,
  ) {}

  get host(): string {
    return `unix://${this.socket}`;
  }

  docker(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const env = { ...process.env, DOCKER_HOST: this.host, DOCKER_CONFIG: this.configDir, ...opts.env };
    return this.sandbox.run('docker', args, { ...opts, env });
  }

  stop(): Promise<void> {
    return this.daemon.stop();
  }

  logTail(lines?: number): string {
    return this.daemon.logTail(lines);
  }
}

/** A private containerd (own root/state, unix sockets, CRI off, isolated content per namespace). */
export class Containerd {
  constructor(
    private readonly sandbox: ClientSandbox,
    private readonly daemon: Daemon,
    readonly socket: string,
  ) {}

  ctr(namespace: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.sandbox.run('ctr', ['--address', this.socket, '--namespace', namespace, ...args], opts);
  }

  stop(): Promise<void> {
    return this.daemon.stop();
  }

  logTail(lines?: number): string {
    return this.daemon.logTail(lines);
  }
}

// --------------------------------------------------------------------------------------- sandbox

const CONTAINERS_CACHE = '/var/lib/containers/cache';

/**
 * Everything one real-client spec runs, under one temp dir. Commands are logged (with timings)
 * to <dir>/commands.log; cleanup() stops daemons, kills leftovers, unmounts and removes the dir.
 */
export class ClientSandbox {
  private readonly daemons: Daemon[] = [];
  readonly commandLog: string;

  private constructor(
    readonly client: ClientName,
    readonly dir: string,
  ) {
    this.commandLog = path.join(dir, 'commands.log');
    for (const sub of ['cache', 'tmp', 'out']) fs.mkdirSync(path.join(dir, sub));
    fs.writeFileSync(path.join(dir, 'auth.json'), '{"auths":{}}\n'); // podman refuses a missing REGISTRY_AUTH_FILE
  }

  static async create(client: ClientName): Promise<ClientSandbox> {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), `real-clients-${client}-`));
    return new ClientSandbox(client, dir);
  }

  /** A path inside the sandbox. */
  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  /** Per-sandbox environment: temp files and auth files stay inside the sandbox. */
  private env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    return { ...process.env, TMPDIR: this.path('tmp'), REGISTRY_AUTH_FILE: this.path('auth.json'), ...extra };
  }

  async run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const line = quote([cmd, ...args]);
    try {
      const r = await run(cmd, args, { ...opts, env: opts.env ?? this.env() });
      fs.appendFileSync(this.commandLog, `[${r.ms} ms, exit ${r.code}] ${line}\n`);
      return r;
    } catch (e) {
      fs.appendFileSync(this.commandLog, `[FAILED] ${line}\n${e instanceof Error ? e.message : String(e)}\n`);
      throw e;
    }
  }

  /**
   * Runs a containers/image client with this sandbox's own blob-info cache mounted over
   * /var/lib/containers/cache, in a private mount namespace (nothing leaks to the host).
   */
  isolated(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const script = `mkdir -p ${CONTAINERS_CACHE} && mount --bind "$0" ${CONTAINERS_CACHE} && exec "$@"`;
    return this.run(
      'unshare',
      ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, this.path('cache'), cmd, ...args],
      { ...opts, env: this.env(opts.env) },
    );
  }

  skopeo(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.isolated('skopeo', ['--insecure-policy', ...args], opts);
  }

  /** podman with private storage (vfs) and run dirs; no systemd, no cgroups manager, no journald. */
  podman(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const global = [
      '--root', this.path('podman', 'root'),
      '--runroot', this.path('podman', 'run'),
      '--tmpdir', this.path('podman', 'tmp'),
      '--storage-driver', 'vfs',
      '--cgroup-manager', 'cgroupfs',
      '--events-backend', 'file',
    ];
    return this.isolated('podman', [...global, ...args], opts);
  }

  private async startDaemon(name: string, cmd: string, args: string[]): Promise<Daemon> {
    const logFile = this.path(`${name}.log`);
    const log = fs.openSync(logFile, 'a');
    const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', findBinary(cmd) ?? cmd, ...args], {
      env: this.env(),
      stdio: ['ignore', log, log],
      detached: true,
    });
    fs.closeSync(log);
    const daemon = new Daemon(name, child, logFile);
    this.daemons.push(daemon);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', reject);
    });
    fs.appendFileSync(this.commandLog, `[daemon pid ${child.pid}] ${quote([cmd, ...args])}\n`);
    return daemon;
  }

  /** Starts a private dockerd that treats the given host:port registries as insecure (plain HTTP). */
  async startDockerd(insecureRegistries: string[]): Promise<Dockerd> {
    const d = this.path('docker');
    for (const sub of ['data', 'exec', 'cfg']) fs.mkdirSync(path.join(d, sub), { recursive: true });
    fs.writeFileSync(path.join(d, 'daemon.json'), '{}\n');
    fs.writeFileSync(path.join(d, 'cfg', 'config.json'), '{}\n');
    const socket = path.join(d, 'docker.sock');
    const daemon = await this.startDaemon('dockerd', 'dockerd', [
      '--config-file', path.join(d, 'daemon.json'),
      '--storage-driver=vfs',
      '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--bridge=none',
      '--data-root', path.join(d, 'data'),
      '--exec-root', path.join(d, 'exec'),
      '--pidfile', path.join(d, 'docker.pid'),
      '-H', `unix://${socket}`,
      ...insecureRegistries.flatMap((r) => ['--insecure-registry', r]),
    ]);
    try {
      await waitFor('dockerd', 90_000, async () => ((await unixGet(socket, '/_ping')) === 200 ? true : undefined), () => daemon.isAlive());
    } catch (e) {
      await daemon.stop();
      throw new Error(`${(e as Error).message}; dockerd log:\n${daemon.logTail()}`);
    }
    return new Dockerd(this, daemon, socket, path.join(d, 'cfg'));
  }

  /** Starts a private containerd; content is not shared between namespaces (a pull really downloads). */
  async startContainerd(): Promise<Containerd> {
    const c = this.path('containerd');
    fs.mkdirSync(c, { recursive: true });
    const socket = path.join(c, 'containerd.sock');
    const config = path.join(c, 'config.toml');
    fs.writeFileSync(
      config,
      [
        'version = 2',
        `root = ${JSON.stringify(path.join(c, 'root'))}`,
        `state = ${JSON.stringify(path.join(c, 'state'))}`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '[grpc]',
        `  address = ${JSON.stringify(socket)}`,
        '[ttrpc]',
        `  address = ${JSON.stringify(`${socket}.ttrpc`)}`,
        '[debug]',
        '  address = ""',
        '[metrics]',
        '  address = ""',
        '[plugins."io.containerd.metadata.v1.bolt"]',
        '  content_sharing_policy = "isolated"',
        '',
      ].join('\n'),
    );
    const daemon = await this.startDaemon('containerd', 'containerd', ['--config', config]);
    const containerd = new Containerd(this, daemon, socket);
    try {
      await waitFor(
        'containerd',
        60_000,
        async () => {
          if (!fs.existsSync(socket)) return undefined;
          const r = await run('ctr', ['--address', socket, 'version'], { timeoutMs: 10_000, allowFailure: true });
          return r.code === 0 ? true : undefined;
        },
        () => daemon.isAlive(),
      );
    } catch (e) {
      await daemon.stop();
      throw new Error(`${(e as Error).message}; containerd log:\n${daemon.logTail()}`);
    }
    return containerd;
  }

  /** PIDs of processes (other than us) whose command line mentions the sandbox dir. */
  private leftoverPids(): number[] {
    const pids: number[] = [];
    for (const entry of fs.readdirSync('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid === process.pid) continue;
      try {
        const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
        if (cmdline.includes(this.dir)) pids.push(pid);
      } catch {
        // gone or not readable
      }
    }
    return pids;
  }

  /** Stops the daemons, kills what is left of ours, unmounts anything under the dir and removes it. */
  async cleanup(): Promise<void> {
    const problems: string[] = [];
    for (const d of this.daemons.reverse()) {
      await d.stop().catch((e: Error) => problems.push(`${d.name}: ${e.message}`));
    }
    killRunningCommands();
    for (let attempt = 0; attempt < 20; attempt++) {
      const pids = this.leftoverPids();
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const mounts = fs
      .readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1])
      .filter((m): m is string => !!m && (m === this.dir || m.startsWith(`${this.dir}/`)))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run('umount', ['-l', m], { timeoutMs: 30_000, allowFailure: true });
    await fs.promises.rm(this.dir, { recursive: true, force: true, maxRetries: 3 }).catch((e: Error) => problems.push(e.message));
    if (problems.length > 0) throw new Error(`cleanup of ${this.dir}: ${problems.join('; ')}`);
  }
}
