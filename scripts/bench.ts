/**
 * Side-by-side benchmark: this registry, run as users run it (token auth on, request log lines
 * off, built `dist/`), against the reference registry (CNCF distribution, Debian's
 * `docker-registry`) when it is installed, both driven by the shared harness `bench.mjs` in
 * one interleaved run. Prints the harness's table, then the issue's targets with the ratios
 * reached, the servers' peak RSS, and what a multi-GiB push does to this registry's RSS.
 *
 *   npm run bench                                         # 3 rounds, every scenario
 *   npm run bench -- --rounds 5 --slices 5                # anything else goes to bench.mjs
 *   npm run bench -- --scenarios manifest-get,tags-list --big-push-gib 0
 *
 * Own options: --harness DIR (bench.mjs and registry.sh; default $REGISTRY_BENCH_HARNESS or
 * ../shared/bench), --ref-auth none|token (the reference's auth; default none, the stricter
 * comparison: it then checks nothing per request), --no-ref (this registry alone),
 * --workers N (REGISTRY_WORKERS for this registry), --big-push-gib N (default 4; 0 skips it),
 * --keep (leave the data directories).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = resolve(__dirname, '..', '..');

/** The issue's targets: ratio ours / reference (higher is better) unless stated. */
const RATIO_TARGETS: Record<string, number> = {
  'push-mono': 1.5,
  'push-chunked': 1.5,
  'pull-blob': 1.0,
  'push-small': 2,
  'manifest-get': 3,
  'manifest-head': 3,
  'tags-list': 3,
};
const NO_WORSE = ['manifest-get p99', 'manifest-head p99'];
const TOKEN_TARGET = 2000;

interface Options {
  harness: string;
  refAuth: 'none' | 'token';
  ref: boolean;
  workers?: string;
  bigPushGib: number;
  keep: boolean;
  passThrough: string[];
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    harness: process.env.REGISTRY_BENCH_HARNESS ?? resolve(ROOT, '..', 'shared', 'bench'),
    refAuth: 'none',
    ref: true,
    bigPushGib: 4,
    keep: false,
    passThrough: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--harness') options.harness = resolve(value());
    else if (arg === '--ref-auth') {
      const v = value();
      if (v !== 'none' && v !== 'token') throw new Error('--ref-auth is none or token');
      options.refAuth = v;
    } else if (arg === '--no-ref') options.ref = false;
    else if (arg === '--workers') options.workers = value();
    else if (arg === '--big-push-gib') options.bigPushGib = Number(value());
    else if (arg === '--keep') options.keep = true;
    else options.passThrough.push(arg);
  }
  if (!existsSync(join(options.harness, 'bench.mjs'))) throw new Error(`no bench.mjs in ${options.harness} (set --harness or REGISTRY_BENCH_HARNESS)`);
  return options;
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

async function waitFor(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`the registry exited (${child.exitCode}) before ${url} answered`);
    const status = await httpStatus(url).catch(() => 0);
    if (status === 200) return;
    await sleep(100);
  }
  throw new Error(`${url} did not answer 200 within 30 s`);
}

function httpStatus(url: string): Promise<number> {
  return new Promise((done, fail) => {
    const req = request(url, (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.on('error', fail);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// RSS of a process tree, sampled

function treePids(pid: number): number[] {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    const tasks = `/proc/${pids[i]}/task`;
    if (!existsSync(tasks)) continue;
    for (const task of readdirSync(tasks)) {
      const children = readFileSync(`${tasks}/${task}/children`, 'utf8').trim();
      if (children) pids.push(...children.split(/\s+/).map(Number));
    }
  }
  return pids;
}

function treeRssBytes(pid: number): number {
  let total = 0;
  for (const p of treePids(pid)) {
    try {
      const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (kb) total += Number(kb[1]) * 1024;
    } catch {
      // the process ended between the listing and the read
    }
  }
  return total;
}

class RssSampler {
  peak = 0;
  first = 0;
  last = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.timer = setInterval(() => this.sample(), 200);
    this.sample();
    this.first = this.last;
  }

  sample(): number {
    this.last = treeRssBytes(this.pid);
    this.peak = Math.max(this.peak, this.last);
    return this.last;
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

// ---------------------------------------------------------------------------------------------
// Servers

interface Server {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function startOurs(options: Options, dataDir: string, password: string): Promise<Server> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    REGISTRY_DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    REGISTRY_AUTH: 'token',
    REGISTRY_ADMIN_PASSWORD: password,
    REGISTRY_LOG_REQUESTS: 'false', // the reference runs with its access log off too
  };
  if (options.workers) env.REGISTRY_WORKERS = options.workers;
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'main.js')], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/healthz`, child);
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function startReference(options: Options, dir: string): Promise<Server | undefined> {
  if (spawnSync('sh', ['-c', 'command -v docker-registry'], { stdio: 'ignore' }).status !== 0) {
    console.error('# docker-registry is not installed (apt-get install docker-registry): this registry alone');
    return undefined;
  }
  const port = await freePort();
  const script = join(options.harness, 'registry.sh');
  const started = spawnSync('bash', [script, 'start', dir, String(port), options.refAuth], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (started.status !== 0) throw new Error(`registry.sh start failed (${started.status})`);
  return {
    url: started.stdout.trim(),
    pid: Number(readFileSync(join(dir, 'pid'), 'utf8')),
    stop: async () => {
      spawnSync('bash', [script, 'stop', dir], { stdio: 'inherit' });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The harness, and the targets table

interface Figure {
  unit: string;
  A: { median: number };
  B?: { median: number };
  ratio?: number;
  paired_ratio?: number;
}

async function runHarness(options: Options, ours: Server, ref: Server | undefined, password: string): Promise<Record<string, Figure>> {
  const args = [join(options.harness, 'bench.mjs'), '--a', ours.url, '--a-user', 'admin', '--a-pass', password, '--a-pid', String(ours.pid)];
  if (ref) {
    args.push('--b', ref.url, '--b-pid', String(ref.pid));
    if (options.refAuth === 'token') args.push('--b-user', 'bench', '--b-pass', 'benchpass');
  }
  if (!options.passThrough.includes('--rounds')) args.push('--rounds', '3');
  args.push(...options.passThrough);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    process.stdout.write(chunk);
  });
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  if (code !== 0) throw new Error(`bench.mjs exited with ${code}`);
  const json = output.trim().split('\n').pop()!;
  return (JSON.parse(json) as { results: Record<string, Figure> }).results;
}

function printTargets(results: Record<string, Figure>, hasRef: boolean): void {
  const rows: string[][] = [['scenario', 'unit', 'ours', 'reference', 'ours/ref', 'paired', 'target', 'met']];
  const fmt = (n: number | undefined): string => (n === undefined ? '-' : n >= 100 ? n.toFixed(0) : n.toPrecision(3));
  for (const [name, target] of Object.entries(RATIO_TARGETS)) {
    const r = results[name];
    if (!r) continue;
    const met = hasRef && r.ratio !== undefined ? (r.ratio >= target ? 'yes' : 'NO') : '-';
    rows.push([name, r.unit, fmt(r.A.median), fmt(r.B?.median), fmt(r.ratio), fmt(r.paired_ratio), `>= ${target}x`, met]);
  }
  for (const name of NO_WORSE) {
    const r = results[name];
    if (!r) continue;
    const met = hasRef && r.B ? (r.A.median <= r.B.median ? 'yes' : 'NO') : '-';
    rows.push([name, r.unit, fmt(r.A.median), fmt(r.B?.median), fmt(r.ratio), fmt(r.paired_ratio), 'no worse', met]);
  }
  const token = results.token;
  if (token) rows.push(['token', token.unit, fmt(token.A.median), '-', '-', '-', `>= ${TOKEN_TARGET}`, token.A.median >= TOKEN_TARGET ? 'yes' : 'NO']);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  console.log('\n# targets (issue 6): ratio of medians, ours / reference');
  for (const row of rows) console.log(row.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
}

// ---------------------------------------------------------------------------------------------
// A multi-GiB push, streamed, with RSS watched: the body must never be held in memory

async function bearerFor(url: string, repository: string, password: string): Promise<string> {
  const challenge = await new Promise<string>((done, fail) => {
    const req = request(`${url}/v2/`, (res) => {
      res.resume();
      done(String(res.headers['www-authenticate'] ?? ''));
    });
    req.on('error', fail);
    req.end();
  });
  const realm = /realm="([^"]+)"/.exec(challenge)?.[1];
  const service = /service="([^"]+)"/.exec(challenge)?.[1];
  if (!realm || !service) throw new Error(`no Bearer challenge from ${url}/v2/: ${challenge}`);
  const tokenUrl = `${realm}?service=${encodeURIComponent(service)}&scope=${encodeURIComponent(`repository:${repository}:pull,push`)}`;
  const body = await send('GET', tokenUrl, { Authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` });
  return (JSON.parse(body.text) as { token: string }).token;
}

function send(method: string, url: string, headers: Record<string, string>, body?: (req: ReturnType<typeof request>) => Promise<void>): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((done, fail) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', fail);
    if (body) body(req).then(() => req.end(), fail);
    else req.end();
  });
}

async function bigPush(ours: Server, password: string, gib: number): Promise<void> {
  const repository = `bench/rss-${randomBytes(4).toString('hex')}`;
  const token = await bearerFor(ours.url, repository, password);
  const auth = { Authorization: `Bearer ${token}` };
  const started = await send('POST', `${ours.url}/v2/${repository}/blobs/uploads/`, { ...auth, 'Content-Length': '0' });
  if (started.status !== 202) throw new Error(`POST upload: ${started.status} ${started.text}`);
  const location = new URL(String(started.headers.location), ours.url);

  const sampler = new RssSampler(ours.pid);
  const before = sampler.first;
  const chunk = randomBytes(1024 * 1024);
  const hash = createHash('sha256');
  const total = gib * 1024;
  const t0 = performance.now();
  const patched = await send('PATCH', location.href, { ...auth, 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' }, async (req) => {
    for (let i = 0; i < total; i++) {
      chunk.writeUInt32BE(i, 0); // every MiB differs
      hash.update(chunk);
      if (!req.write(chunk)) await new Promise((done) => req.once('drain', done));
    }
  });
  if (patched.status !== 202) throw new Error(`PATCH: ${patched.status} ${patched.text}`);
  const digest = `sha256:${hash.digest('hex')}`;
  const put = new URL(String(patched.headers.location), ours.url);
  put.searchParams.set('digest', digest);
  const committed = await send('PUT', put.href, { ...auth, 'Content-Length': '0' });
  if (committed.status !== 201) throw new Error(`PUT: ${committed.status} ${committed.text}`);
  const seconds = (performance.now() - t0) / 1000;
  sampler.stop();
  console.log(
    `\n# ${gib} GiB streamed push (one PATCH, then PUT ?digest=): ${((total * 1024 * 1024) / 1e6 / seconds).toFixed(0)} MB/s; ` +
      `RSS before ${mib(before)}, peak during ${mib(sampler.peak)} (+${mib(Math.max(0, sampler.peak - before))}), after ${mib(sampler.last)}`,
  );
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (!existsSync(join(ROOT, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: npm run build');
  const work = mkdtempSync(join(tmpdir(), 'registry-bench-'));
  const password = randomBytes(12).toString('base64url');
  const servers: Server[] = [];
  try {
    const ours = await startOurs(options, join(work, 'ours'), password);
    servers.push(ours);
    const ref = options.ref ? await startReference(options, join(work, 'ref')) : undefined;
    if (ref) servers.push(ref);
    console.error(`# ours ${ours.url} (pid ${ours.pid}, token auth${options.workers ? `, ${options.workers} workers` : ''})${ref ? `; reference ${ref.url} (pid ${ref.pid}, auth ${options.refAuth})` : ''}`);

    const oursRss = new RssSampler(ours.pid);
    const refRss = ref ? new RssSampler(ref.pid) : undefined;
    const results = await runHarness(options, ours, ref, password);
    oursRss.stop();
    refRss?.stop();
    printTargets(results, ref !== undefined);
    console.log(`\n# server RSS over the harness run: ours peak ${mib(oursRss.peak)} (start ${mib(oursRss.first)}, end ${mib(oursRss.last)})` + (refRss ? `; reference peak ${mib(refRss.peak)} (start ${mib(refRss.first)}, end ${mib(refRss.last)})` : ''));
    if (options.bigPushGib > 0) await bigPush(ours, password, options.bigPushGib);
  } finally {
    for (const server of servers.reverse()) await server.stop();
    if (!options.keep) rmSync(work, { recursive: true, force: true });
    else console.error(`# data kept in ${work}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
