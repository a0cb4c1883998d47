/**
 * REGISTRY_WORKERS=2 on the real process (`node dist/main.js`, built by `npm run build`): a
 * primary that serves nothing itself and two workers sharing the port (Node's cluster deals
 * new connections round-robin). What must hold across the workers:
 *
 * - an upload session resumes on whichever worker gets its next request;
 * - concurrent pushes of one blob commit it once (the per-digest lock is the primary's);
 * - one GC pass at a time (the database lease), and no pushed blob loses its bytes to a pass
 *   running on the other worker;
 * - /metrics shows the sum of the workers, and the database readings once;
 * - a worker killed with SIGKILL is replaced, and the locks it held are released;
 * - SIGTERM to the primary stops every worker and exits 0;
 * - a token issued by one worker is accepted by the other (one signing key file).
 *
 * Which worker served a request is read from the request log (`pid` of its line, found by the
 * X-Request-Id the spec sends). A request on a fresh connection (no agent) goes wherever the
 * cluster deals it; `onWorker` finds a keep-alive connection that landed on a given worker, so
 * a request can be sent to that worker on purpose (and the spec checks it went there).
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { createServer, type Socket } from 'node:net';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { GcReport } from '../../src/gc/gc.service';
import type { GcRunRecord } from '../../src/metadata/stores/gc.store';
import type { RegistryStats } from '../../src/stats/stats.service';
import { blobFile, descriptorOf, deterministicBytes, fileSize, filesUnder, imageManifestBytes, MT, parseErrorBody, pathAndQuery, sha256, uploadDataFile, waitFor } from '../utils/oci-client';
import { parsePrometheusText, sampleValue, type Sample } from '../utils/prometheus';
import { killServerProcesses, type ServerProcess, startServerProcess } from '../utils/server-process';
import { makeTempDir, removeDir } from '../utils/temp-dir';

jest.setTimeout(60_000);

const KIB = 1024;
const RUN = `c${Date.now().toString(36)}`;
const ADMIN_PASSWORD = 'cluster-admin-password';
const SERVICE = 'cluster-test-registry';

// ------------------------------------------------------------------------------ the request log

interface LogLine {
  pid: number;
  level?: string;
  context?: string;
  msg?: string;
  requestId?: string;
  method?: string;
  path?: string;
  status?: number;
  user?: string;
}

/** The process's JSON log lines (primary and workers write to the same stdout), parsed as they come. */
class ProcessLog {
  readonly lines: LogLine[] = [];
  private carry = '';

  constructor(server: ServerProcess) {
    // What was written before this spec started listening (the start-up lines) is in the tail.
    const earlier = server.logTail(Number.MAX_SAFE_INTEGER).split('\n');
    const last = earlier.pop() ?? '';
    for (const line of earlier) this.add(line);
    if (!this.add(last)) this.carry = last;
    const decoder = new StringDecoder('utf8');
    server.child.stdout!.on('data', (chunk: Buffer) => {
      const parts = (this.carry + decoder.write(chunk)).split('\n');
      this.carry = parts.pop()!;
      for (const part of parts) this.add(part);
    });
  }

  private add(text: string): boolean {
    try {
      const line = JSON.parse(text) as LogLine;
      if (typeof line?.pid !== 'number') return false;
      this.lines.push(line);
      return true;
    } catch {
      return false;
    }
  }

  /** Pids of the workers that logged "listening", in order (a replaced worker's successor included). */
  listeningWorkers(): number[] {
    return this.lines.filter((l) => l.context === 'Registry' && /^listening on .* \(worker \d+\)/.test(l.msg ?? '')).map((l) => l.pid);
  }

  messages(context: string): LogLine[] {
    return this.lines.filter((l) => l.context === context);
  }

  lineOf(requestId: string): LogLine | undefined {
    return this.lines.find((l) => l.requestId === requestId && l.msg?.startsWith('request '));
  }

  /** The request's log line (written when the response ended, so it may come a moment after it). */
  async waitForLine(requestId: string): Promise<LogLine> {
    await waitFor(() => this.lineOf(requestId) !== undefined, 10_000, `the request log line of ${requestId}`);
    return this.lineOf(requestId)!;
  }

  async pidOf(requestId: string): Promise<number> {
    return (await this.waitForLine(requestId)).pid;
  }

  async pidsOf(requestIds: string[]): Promise<number[]> {
    return Promise.all(requestIds.map((id) => this.pidOf(id)));
  }
}

// ------------------------------------------------------------------------------------ requests

interface Sent {
  id: string;
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The connection it went over. */
  socket: Socket;
}

interface SendOptions {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** A keep-alive agent (see onWorker); none: a connection of its own. */
  agent?: http.Agent;
}

let requestSeq = 0;
const nextRequestId = (): string => `${RUN}-${++requestSeq}`;

/** One request with a unique X-Request-Id; without an agent, on a new connection (closed after it). */
function send(server: ServerProcess, opts: SendOptions): Promise<Sent> {
  const id = nextRequestId();
  return new Promise<Sent>((resolve, reject) => {
    const headers: Record<string, string> = { 'X-Request-Id': id, ...opts.headers };
    if (opts.body) headers['Content-Length'] = String(opts.body.length);
    let socket: Socket | undefined;
    const request = http.request({ host: '127.0.0.1', port: server.port, method: opts.method, path: opts.path, headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ id, status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), socket: socket! }));
    });
    request.on('socket', (s) => (socket = s));
    // Never hang the spec: a request stuck (on a lock nobody releases, say) fails it.
    request.setTimeout(20_000, () => request.destroy(new Error(`${opts.method} ${opts.path} (${id}): no answer within 20 s`)));
    request.on('error', reject);
    request.end(opts.body);
  });
}

/** A connection that landed on worker `pid`: a keep-alive agent of one socket, and that socket. */
interface Bound {
  pid: number;
  agent: http.Agent;
  socket: Socket;
}

const agents: http.Agent[] = [];

/**
 * Opens connections until one is dealt to worker `pid` (told by the log line of a probe sent
 * over it), and keeps it: requests through `agent` then go to that worker, as long as they go
 * over `socket` (callers check `sent.socket === bound.socket`).
 */
async function onWorker(server: ServerProcess, log: ProcessLog, pid: number): Promise<Bound> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    // A public route that keeps the connection open, with auth on or off (200, or 404 without token auth).
    const probe = await send(server, { method: 'GET', path: '/.well-known/jwks.json', agent });
    if (probe.headers.connection === 'close') throw new Error(`the probe's answer (${probe.status}) closes the connection`);
    if ((await log.pidOf(probe.id)) === pid) return { pid, agent, socket: probe.socket };
    agent.destroy();
  }
  throw new Error(`20 new connections, none dealt to worker ${pid}`);
}

/** `send` through a bound connection; fails unless it went over that connection. */
async function sendTo(server: ServerProcess, bound: Bound, opts: Omit<SendOptions, 'agent'>): Promise<Sent> {
  const res = await send(server, { ...opts, agent: bound.agent });
  if (res.socket !== bound.socket) throw new Error(`${opts.method} ${opts.path} went over a new connection, not the one bound to worker ${bound.pid}`);
  return res;
}

function withDigest(location: string, digest: string): string {
  const url = new URL(location, 'http://registry');
  url.searchParams.set('digest', digest);
  return pathAndQuery(url.toString());
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sorted = (pids: Iterable<number>): number[] => [...pids].sort((a, b) => a - b);

// ---------------------------------------------------------------------------------------- spec

describe('REGISTRY_WORKERS=2: a cluster of worker processes (e2e, real process)', () => {
  const dirs: string[] = [];
  const dataDirFor = (prefix: string): string => {
    // On tmpfs when there is one: fsyncs cost nothing there.
    const dir = fs.existsSync('/dev/shm') ? makeTempDir(prefix, '/dev/shm') : makeTempDir(prefix);
    dirs.push(dir);
    return dir;
  };

  /** Starts the cluster and waits until both workers listen (/healthz answers as soon as one does). */
  async function startCluster(dataDir: string, env: Record<string, string>): Promise<{ server: ServerProcess; log: ProcessLog; workers: number[] }> {
    const server = await startServerProcess({ dataDir, env: { REGISTRY_WORKERS: '2', REGISTRY_LOG_LEVEL: 'info', REGISTRY_LOG_REQUESTS: 'true', ...env } });
    const log = new ProcessLog(server);
    await waitFor(() => log.listeningWorkers().length >= 2, 20_000, `two workers to listen; the log ends with:\n${server.logTail()}`);
    return { server, log, workers: log.listeningWorkers() };
  }

  afterAll(() => {
    for (const agent of agents) agent.destroy();
    killServerProcesses();
    for (const dir of dirs) removeDir(dir);
  });

  describe('with auth off', () => {
    let server: ServerProcess;
    let log: ProcessLog;
    let workers: number[];
    let dataDir: string;
    /** Every distinct blob digest pushed to this registry (each one a dedup miss when first stored). */
    const pushed = new Set<string>();

    beforeAll(async () => {
      dataDir = dataDirFor('registry-cluster-');
      ({ server, log, workers } = await startCluster(dataDir, { REGISTRY_AUTH: 'none', REGISTRY_GC_GRACE: '0', REGISTRY_GC_INTERVAL: '0' }));
    });

    const get = (p: string): Promise<Sent> => send(server, { method: 'GET', path: p });

    /** GET a blob on a new connection: it must be `data`, byte for byte. */
    async function expectBlob(repo: string, data: Buffer): Promise<void> {
      const res = await get(`/v2/${repo}/blobs/${sha256(data)}`);
      expect(res.status).toBe(200);
      expect(sha256(res.body)).toBe(sha256(data));
      expect(res.body.equals(data)).toBe(true);
    }

    /** Monolithic push (POST ?digest= with the body) on a new connection; its status and request id. */
    async function pushMonolithic(repo: string, data: Buffer, bound?: Bound): Promise<{ status: number; ids: string[] }> {
      const opts = { method: 'POST', path: `/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, headers: { 'Content-Type': 'application/octet-stream' }, body: data };
      const res = bound ? await sendTo(server, bound, opts) : await send(server, opts);
      if (res.status === 201) pushed.add(sha256(data));
      return { status: res.status, ids: [res.id] };
    }

    /**
     * A chunked upload: POST, one PATCH per `chunk` bytes (with Content-Range), PUT ?digest=.
     * Request number `step` goes through `via(step)` (a bound connection), or on a new connection.
     */
    async function pushChunked(repo: string, data: Buffer, chunk: number, via: (step: number) => Bound | undefined = () => undefined): Promise<{ status: number; ids: string[] }> {
      let step = 0;
      const request = (opts: Omit<SendOptions, 'agent'>): Promise<Sent> => {
        const bound = via(step++);
        return bound ? sendTo(server, bound, opts) : send(server, opts);
      };
      const ids: string[] = [];
      const start = await request({ method: 'POST', path: `/v2/${repo}/blobs/uploads/` });
      ids.push(start.id);
      if (start.status !== 202) return { status: start.status, ids };
      let location = start.headers.location!;
      for (let offset = 0; offset < data.length; offset += chunk) {
        const end = Math.min(offset + chunk, data.length) - 1;
        const res = await request({
          method: 'PATCH',
          path: pathAndQuery(location),
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${end}` },
          body: data.subarray(offset, end + 1),
        });
        ids.push(res.id);
        if (res.status !== 202) return { status: res.status, ids };
        expect(res.headers.range).toBe(`0-${end}`);
        location = res.headers.location!;
      }
      const put = await request({ method: 'PUT', path: withDigest(location, sha256(data)) });
      ids.push(put.id);
      if (put.status === 201) {
        expect(put.headers['docker-content-digest']).toBe(sha256(data));
        pushed.add(sha256(data));
      }
      return { status: put.status, ids };
    }

    async function stats(): Promise<RegistryStats> {
      const res = await get('/_stats');
      expect(res.status).toBe(200);
      return JSON.parse(res.body.toString()) as RegistryStats;
    }

    async function scrape(bound?: Bound): Promise<Sample[]> {
      const res = bound ? await sendTo(server, bound, { method: 'GET', path: '/metrics' }) : await get('/metrics');
      expect(res.status).toBe(200);
      return parsePrometheusText(res.body.toString());
    }

    async function gcRuns(): Promise<GcRunRecord[]> {
      const res = await get('/api/v1/gc/runs?limit=1000');
      expect(res.status).toBe(200);
      return (JSON.parse(res.body.toString()) as { runs: GcRunRecord[] }).runs;
    }

    /** Pushes `n` unreferenced blobs (GC collects them at once: REGISTRY_GC_GRACE=0), ten at a time. */
    async function pushGarbage(repo: string, n: number, seed: string, size = 200): Promise<Buffer[]> {
      const blobs = Array.from({ length: n }, (_, i) => deterministicBytes(size, `${RUN}-${seed}-${i}`));
      for (let i = 0; i < blobs.length; i += 10) {
        const results = await Promise.all(blobs.slice(i, i + 10).map((b) => pushMonolithic(repo, b)));
        for (const r of results) expect(r.status).toBe(201);
      }
      return blobs;
    }

    it('runs two workers under a primary that serves nothing itself: both log "listening", and new connections are dealt to both', async () => {
      const primary = log.messages('Cluster').find((l) => /^primary \d+: 2 workers$/.test(l.msg ?? ''));
      expect(primary?.pid).toBe(server.child.pid);
      expect(workers).toHaveLength(2);
      expect(new Set(workers).size).toBe(2);
      expect(workers).not.toContain(server.child.pid);

      const ids: string[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await get('/v2/');
        expect(res.status).toBe(200);
        ids.push(res.id);
      }
      expect(sorted(new Set(await log.pidsOf(ids)))).toEqual(sorted(workers));
    });

    it('resumes an upload session on another worker: POST, PATCHes and PUT on new connections, served by both workers', async () => {
      const repo = `${RUN}/resume/fresh`;
      const data = deterministicBytes(6 * 64 * KIB + 123, `${RUN}-resume-fresh`);
      const { status, ids } = await pushChunked(repo, data, 64 * KIB);
      expect(status).toBe(201);
      expect(ids).toHaveLength(9);
      expect(new Set(await log.pidsOf(ids)).size).toBe(2);
      await expectBlob(repo, data);
    });

    it('resumes an upload session whose every request goes to the other worker than the one before', async () => {
      const repo = `${RUN}/resume/alternating`;
      const data = deterministicBytes(5 * 48 * KIB + 7, `${RUN}-resume-alternating`);
      const bound = [await onWorker(server, log, workers[0]!), await onWorker(server, log, workers[1]!)];
      // POST on 0, PATCHes on 1, 0, 1, 0, 1, PUT on 0: each worker's cached hash falls behind the session every time.
      const { status, ids } = await pushChunked(repo, data, 48 * KIB, (step) => bound[step % 2]);
      expect(status).toBe(201);
      expect(await log.pidsOf(ids)).toEqual(ids.map((_, step) => workers[step % 2]));
      await expectBlob(repo, data);
    });

    it('commits one blob pushed concurrently into 16 repositories once (stored once, one dedup miss), alongside distinct blobs, and leaves no staging behind', async () => {
      const shared = deterministicBytes(256 * KIB, `${RUN}-shared`);
      const distinct = Array.from({ length: 8 }, (_, i) => deterministicBytes(32 * KIB + i, `${RUN}-distinct-${i}`));
      const repos = Array.from({ length: 16 }, (_, i) => `${RUN}/atomic/r${i}`);
      const uploadsDir = path.join(dataDir, 'storage', 'uploads');
      const stagingBefore = fs.existsSync(uploadsDir) ? fs.readdirSync(uploadsDir) : [];
      const statsBefore = await stats();

      const results = await Promise.all([
        // Half monolithic, half chunked (POST, PATCH, PUT): all on new connections, all at once.
        ...repos.map((repo, i) => (i % 2 === 0 ? pushMonolithic(repo, shared) : pushChunked(repo, shared, 96 * KIB))),
        ...distinct.map((blob, i) => pushMonolithic(repos[i]!, blob)),
      ]);

      expect(results.map((r) => r.status)).toEqual(results.map(() => 201));
      expect(sorted(new Set(await log.pidsOf(results.flatMap((r) => r.ids))))).toEqual(sorted(workers));
      for (const repo of repos) await expectBlob(repo, shared);
      for (const [i, blob] of distinct.entries()) await expectBlob(repos[i]!, blob);

      // Stored once, at its content address, with its bytes.
      const blobFiles = filesUnder(path.join(dataDir, 'storage', 'blobs'));
      for (const blob of [shared, ...distinct]) {
        const hex = sha256(blob).slice('sha256:'.length);
        expect(blobFiles.filter((f) => f.endsWith(hex))).toEqual([`sha256/${hex.slice(0, 2)}/${hex}`]);
        expect(fs.readFileSync(blobFile(dataDir, sha256(blob))).equals(blob)).toBe(true);
      }
      // Every upload completed: no staging directory of theirs is left.
      const stagingAfter = fs.existsSync(uploadsDir) ? fs.readdirSync(uploadsDir) : [];
      expect(stagingAfter.filter((d) => !stagingBefore.includes(d))).toEqual([]);
      // The shared blob is new once: 1 miss, 15 hits; each distinct blob one miss.
      const statsAfter = await stats();
      expect(statsAfter.layers.cacheMisses - statsBefore.layers.cacheMisses).toBe(1 + distinct.length);
      expect(statsAfter.layers.cacheHits - statsBefore.layers.cacheHits).toBe(repos.length - 1);
    });

    it('/metrics shows the sum of the workers whichever worker serves the scrape, and the database readings once, not once per worker', async () => {
      // Dedup readings to show: two new blobs (misses), one of them pushed again (a hit).
      const repo = `${RUN}/metrics/app`;
      const blobs = [deterministicBytes(1000, `${RUN}-metrics-0`), deterministicBytes(1000, `${RUN}-metrics-1`)];
      for (const blob of [...blobs, blobs[0]!]) expect((await pushMonolithic(repo, blob)).status).toBe(201);

      const bound = [await onWorker(server, log, workers[0]!), await onWorker(server, log, workers[1]!)];
      const requestsOf = (samples: Sample[]): number => sampleValue(samples, 'registry_http_requests_total', { method: 'GET', route: '/v2/', status: '200' });
      const before = requestsOf(await scrape(bound[0]));

      const N = 12;
      const ids: string[] = [];
      for (let i = 0; i < N; i++) {
        const res = await get('/v2/');
        expect(res.status).toBe(200);
        ids.push(res.id);
      }
      const pids = await log.pidsOf(ids); // the lines are written when the requests were counted
      for (const worker of workers) expect(pids.filter((p) => p === worker).length).toBeGreaterThan(0); // each served some, neither all

      const viaFirst = await scrape(bound[0]);
      const viaSecond = await scrape(bound[1]);
      expect(requestsOf(viaFirst)).toBe(before + N);
      expect(requestsOf(viaSecond)).toBe(before + N);
      // On new connections too (dealt to either worker), twice: never less than that.
      const fresh1 = requestsOf(await scrape());
      const fresh2 = requestsOf(await scrape());
      expect(fresh1).toBeGreaterThanOrEqual(before + N);
      expect(fresh2).toBeGreaterThanOrEqual(fresh1);

      // The dedup counters are read from the database by every worker: shown once, not summed.
      const s = await stats();
      expect(pushed.size).toBeGreaterThanOrEqual(2);
      expect(s.layers.cacheHits).toBeGreaterThanOrEqual(1);
      for (const samples of [viaFirst, viaSecond]) {
        expect(sampleValue(samples, 'registry_blob_dedup_misses_total')).toBe(pushed.size);
        expect(sampleValue(samples, 'registry_blob_dedup_misses_total')).toBe(s.layers.cacheMisses);
        expect(sampleValue(samples, 'registry_blob_dedup_hits_total')).toBe(s.layers.cacheHits);
      }
    });

    it('runs one GC pass at a time across workers: of two POST /_gc sent at once, one to each worker, one runs and the other answers 409', async () => {
      const clear = await send(server, { method: 'POST', path: '/_gc' }); // what earlier tests left collectable
      expect(clear.status).toBe(200);
      const gcRunsOf = (samples: Sample[], outcome: string): number => sampleValue(samples, 'registry_gc_runs_total', { trigger: 'api', outcome });
      const metricsBefore = await scrape();
      let conflicts = 0;
      let passes = 0;
      // When the two requests happen not to overlap, both run; a few rounds find an overlap.
      for (let round = 0; round < 6 && conflicts === 0; round++) {
        const repo = `${RUN}/gc-once/r${round}`;
        const garbage = await pushGarbage(repo, 60, `gc-once-${round}`);
        const runsBefore = (await gcRuns()).length;
        const bound = [await onWorker(server, log, workers[0]!), await onWorker(server, log, workers[1]!)];

        const results = await Promise.all(bound.map((b) => sendTo(server, b, { method: 'POST', path: '/_gc' })));

        expect(await log.pidsOf(results.map((r) => r.id))).toEqual(workers);
        for (const r of results) expect([200, 409]).toContain(r.status);
        for (const r of results.filter((x) => x.status === 409)) {
          expect(parseErrorBody(r.body.toString())[0]!.message).toMatch(/already running/);
        }
        const reports = results.filter((r) => r.status === 200).map((r) => JSON.parse(r.body.toString()) as GcReport);
        expect(reports.length).toBeGreaterThanOrEqual(1);
        // Overlapping or not, each blob is deleted, and counted, exactly once.
        expect(reports.reduce((n, r) => n + r.deletedLayers, 0)).toBe(garbage.length);
        expect(reports.reduce((n, r) => n + r.reclaimedBytes, 0)).toBe(garbage.length * 200);
        expect((await gcRuns()).length - runsBefore).toBe(reports.length); // a refused pass is not recorded
        for (const blob of garbage) expect((await get(`/v2/${repo}/blobs/${sha256(blob)}`)).status).toBe(404);
        conflicts += results.length - reports.length;
        passes += reports.length;
        for (const b of bound) b.agent.destroy();
      }
      expect(conflicts).toBeGreaterThan(0);
      // The refusals and passes are counted in the worker that answered them; /metrics sums them.
      const metricsAfter = await scrape();
      expect(gcRunsOf(metricsAfter, 'skipped') - gcRunsOf(metricsBefore, 'skipped')).toBe(conflicts);
      expect(gcRunsOf(metricsAfter, 'success') - gcRunsOf(metricsBefore, 'success')).toBe(passes);
    });

    it('never leaves a blob row without bytes while writers on one worker re-push blobs that GC passes on the other worker are deleting', async () => {
      const WRITERS = 3;
      const DURATION_MS = 2_500;
      const gcWorker = await onWorker(server, log, workers[0]!);
      const writerConnections: Bound[] = [];
      for (let i = 0; i < WRITERS; i++) writerConnections.push(await onWorker(server, log, workers[1]!));
      const images: { repo: string; tag: string; manifest: Buffer; blob: Buffer }[] = [];
      let writersDone = false;
      let passes = 0;
      let collected = 0;
      let refused = 0;

      // GC passes back to back on worker 0 until the writers stop.
      const collector = (async (): Promise<void> => {
        while (!writersDone) {
          const res = await sendTo(server, gcWorker, { method: 'POST', path: '/_gc' });
          expect(res.status).toBe(200);
          collected += (JSON.parse(res.body.toString()) as GcReport).deletedLayers;
          passes++;
        }
      })();

      // Each writer, on worker 1, over and over: a new blob (unreferenced, so collectable at once
      // with REGISTRY_GC_GRACE=0), the same blob again (its commit finds the bytes a pass may be
      // deleting right then), and a manifest that references it. The manifest is refused when a
      // pass collected the blob first (the client would push again); once accepted, the blob is
      // referenced for good and must stay readable.
      const writer = async (w: number): Promise<void> => {
        const connection = writerConnections[w]!;
        const repo = `${RUN}/gc-race/w${w}`;
        const deadline = Date.now() + DURATION_MS;
        for (let n = 0; Date.now() < deadline; n++) {
          const blob = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, run: RUN, w, n, pad: 'x'.repeat(n % 7 * 100) }));
          const manifest = imageManifestBytes(descriptorOf(MT.ociConfig, blob), []);
          expect((await pushMonolithic(repo, blob, connection)).status).toBe(201);
          expect((await pushMonolithic(repo, blob, connection)).status).toBe(201);
          const res = await sendTo(server, connection, { method: 'PUT', path: `/v2/${repo}/manifests/t${n}`, headers: { 'Content-Type': MT.ociManifest }, body: manifest });
          if (res.status === 201) {
            images.push({ repo, tag: `t${n}`, manifest, blob });
          } else {
            expect({ status: res.status, code: parseErrorBody(res.body.toString())[0]!.code }).toEqual({ status: 400, code: 'MANIFEST_BLOB_UNKNOWN' });
            refused++;
          }
        }
      };
      try {
        await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
      } finally {
        writersDone = true;
        await collector;
      }
      const last = await sendTo(server, gcWorker, { method: 'POST', path: '/_gc' });
      expect(last.status).toBe(200);
      expect(passes).toBeGreaterThan(1);
      expect(images.length).toBeGreaterThan(WRITERS);
      // The passes did collect the writers' blobs under their feet (else this proved nothing).
      expect(collected).toBeGreaterThan(0);
      expect(refused).toBeGreaterThan(0);

      // Every accepted image is whole: its manifest, and the blob it references with its bytes.
      for (let i = 0; i < images.length; i += 8) {
        await Promise.all(
          images.slice(i, i + 8).map(async (image) => {
            const res = await send(server, { method: 'GET', path: `/v2/${image.repo}/manifests/${image.tag}`, headers: { Accept: MT.ociManifest } });
            expect(res.status).toBe(200);
            expect(res.body.equals(image.manifest)).toBe(true);
            await expectBlob(image.repo, image.blob);
          }),
        );
      }
      // And no blob row anywhere lost its bytes.
      const db = new Database(path.join(dataDir, 'registry.db'), { readonly: true });
      try {
        const rows = db.prepare('SELECT digest, size FROM blobs').all() as { digest: string; size: number }[];
        expect(rows.length).toBeGreaterThanOrEqual(images.length);
        expect(rows.filter((row) => fileSize(blobFile(dataDir, row.digest)) !== Number(row.size))).toEqual([]);
      } finally {
        db.close();
      }
      expect(log.lines.filter((l) => /missing from storage/.test(l.msg ?? ''))).toEqual([]);
      expect(log.lines.filter((l) => l.msg === 'request errored')).toEqual([]);
    });

    it('replaces a worker killed with SIGKILL: the other keeps answering, the upload lock the dead one held is released, and a new worker listens', async () => {
      const [victim, survivor] = workers as [number, number];
      const bound = await onWorker(server, log, victim);
      const repo = `${RUN}/killed/upload`;
      const data = deterministicBytes(512 * KIB, `${RUN}-killed`);
      const start = await send(server, { method: 'POST', path: `/v2/${repo}/blobs/uploads/` });
      expect(start.status).toBe(202);
      const location = start.headers.location!;
      const staged = uploadDataFile(dataDir, location);

      // A PATCH to the victim that stops mid-body: the victim holds the session's lock, appending.
      const stalled = new Promise<number>((resolve, reject) => {
        const request = http.request({
          host: '127.0.0.1',
          port: server.port,
          method: 'PATCH',
          path: pathAndQuery(location),
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) },
          agent: bound.agent,
        });
        request.on('socket', (s) => {
          if (s !== bound.socket) reject(new Error('the stalled PATCH did not go over the connection bound to the victim'));
        });
        request.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        request.on('error', reject);
        request.write(data.subarray(0, 64 * KIB));
      });
      stalled.catch(() => undefined);
      await waitFor(() => fileSize(staged) >= 64 * KIB, 10_000, 'the victim to stage the first bytes of the PATCH');

      process.kill(victim, 'SIGKILL');
      await expect(stalled).rejects.toThrow(/socket hang up|ECONNRESET/);
      await waitFor(
        () => log.messages('Cluster').some((l) => l.msg?.startsWith(`worker ${victim} exited (SIGKILL)`)),
        10_000,
        'the primary to see the victim exit',
      );
      expect(isAlive(victim)).toBe(false);

      // The registry keeps answering.
      for (let i = 0; i < 6; i++) expect((await send(server, { method: 'GET', path: '/v2/' })).status).toBe(200);

      // The session's lock went with the victim: the upload resumes (a held lock would hang this PATCH).
      const resumed = await send(server, {
        method: 'PATCH',
        path: pathAndQuery(location),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${data.length - 1}` },
        body: data,
      });
      expect(resumed.status).toBe(202);
      expect(resumed.headers.range).toBe(`0-${data.length - 1}`);
      const put = await send(server, { method: 'PUT', path: withDigest(resumed.headers.location!, sha256(data)) });
      expect(put.status).toBe(201);
      pushed.add(sha256(data));
      await expectBlob(repo, data);

      // A replacement starts, and serves.
      await waitFor(() => log.listeningWorkers().length >= 3, 15_000, 'a replacement worker to listen');
      const replacement = log.listeningWorkers()[2]!;
      expect([victim, survivor, server.child.pid]).not.toContain(replacement);
      const served = new Set<number>();
      for (let i = 0; i < 10 && !served.has(replacement); i++) {
        const res = await send(server, { method: 'GET', path: '/v2/' });
        expect(res.status).toBe(200);
        served.add(await log.pidOf(res.id));
      }
      expect(served).toContain(replacement);
      expect(served).not.toContain(victim);
      workers = [survivor, replacement];
    });

    it('on SIGTERM to the primary, stops every worker and exits 0', async () => {
      const everyWorker = log.listeningWorkers();
      expect(everyWorker.length).toBeGreaterThanOrEqual(2);
      server.signal('SIGTERM');
      const exit = await server.waitForExit(30_000);
      expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
      for (const pid of everyWorker) expect({ pid, alive: isAlive(pid) }).toEqual({ pid, alive: false });
      // Each worker that was running shut down gracefully (its last lines may trail the exit a moment).
      await waitFor(
        () => workers.every((pid) => log.lines.some((l) => l.pid === pid && l.context === 'Shutdown' && l.msg === 'stopped')),
        5_000,
        'each worker to log "stopped"',
      );
      expect(log.messages('Cluster').some((l) => l.msg === 'SIGTERM: stopping 2 workers')).toBe(true);
    });
  });

  it('exits 0 on SIGTERM that arrives while workers are still starting (they stop with the signal, not with an error)', async () => {
    // Four workers on this box: when the first answers /healthz the others are still booting,
    // and a worker without its signal handlers yet is ended by the signal itself.
    const server = await startServerProcess({ dataDir: dataDirFor('cluster-boot-'), env: { REGISTRY_WORKERS: '4', REGISTRY_AUTH: 'none' } });
    server.signal('SIGTERM');
    const exit = await server.waitForExit(30_000);
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
  });

  it('gives up with exit 1 when workers keep dying before they listen (the port is taken), instead of restarting them forever', async () => {
    const squatter = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const port = (squatter.address() as { port: number }).port;
    try {
      const started = startServerProcess({ dataDir: dataDirFor('cluster-port-'), port, env: { REGISTRY_WORKERS: '2', REGISTRY_AUTH: 'none' }, readyTimeoutMs: 60_000 });
      await expect(started).rejects.toThrow(/exited \(code 1\) before answering \/healthz[\s\S]*exited before listening; stopping/);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  describe('with token auth', () => {
    let server: ServerProcess;
    let log: ProcessLog;
    let workers: number[];

    beforeAll(async () => {
      ({ server, log, workers } = await startCluster(dataDirFor('registry-cluster-token-'), {
        REGISTRY_AUTH: 'token',
        REGISTRY_ADMIN_PASSWORD: ADMIN_PASSWORD,
        REGISTRY_AUTH_SERVICE: SERVICE,
        REGISTRY_GC_INTERVAL: '0',
      }));
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('throttles failed logins for the whole process: failures spread over both workers add up (REGISTRY_AUTH_MAX_FAILURES=5)', async () => {
      const bound = [await onWorker(server, log, workers[0]!), await onWorker(server, log, workers[1]!)] as [Bound, Bound];
      const user = `${RUN.replace(/[^a-z0-9]/g, '')}guess`;
      const attempt = (b: Bound): Promise<Sent> =>
        sendTo(server, b, {
          method: 'GET',
          path: `/token?service=${encodeURIComponent(SERVICE)}`,
          headers: { Authorization: `Basic ${Buffer.from(`${user}:wrong-password`).toString('base64')}` },
        });
      // Five failures, alternating workers: three on one, two on the other (neither alone reaches five).
      for (let i = 0; i < 5; i++) expect((await attempt(bound[i % 2]!)).status).toBe(401);
      // The events reach the other worker through the primary within milliseconds. The worker
      // that saw only two failures itself now refuses: it counts the other's three.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const refused = await attempt(bound[1]);
      expect(refused.status).toBe(429);
      expect(refused.headers['retry-after']).toMatch(/^\d+$/);
      expect((await attempt(bound[0])).status).toBe(429);
    });

    it('clears on both workers, with a success on one, the failures the other recorded', async () => {
      const bound = [await onWorker(server, log, workers[0]!), await onWorker(server, log, workers[1]!)] as [Bound, Bound];
      const login = (b: Bound, password: string): Promise<Sent> =>
        sendTo(server, b, {
          method: 'GET',
          path: `/token?service=${encodeURIComponent(SERVICE)}`,
          headers: { Authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` },
        });
      const settle = (): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, 300)); // events go through the primary
      for (let i = 0; i < 3; i++) expect((await login(bound[0], 'wrong-password')).status).toBe(401);
      await settle();
      expect((await login(bound[1], ADMIN_PASSWORD)).status).toBe(200); // worker 1 knows the three failures: it clears them everywhere
      await settle();
      // Had worker 0 kept its three, the fifth failure in a row would lock it: the third of these would be 429.
      for (let i = 0; i < 4; i++) expect((await login(bound[0], 'wrong-password')).status).toBe(401);
      expect((await login(bound[0], ADMIN_PASSWORD)).status).toBe(200); // and clean again for the tests that log in as admin
      await settle();
    });

    it('accepts on each worker the tokens the other issued (one signing key, made by the primary), on bound and on new connections', async () => {
      const repo = `${RUN}/token/app`;
      const bound = [await onWorker(server, log, workers[0]!), await onWorker(server, log, workers[1]!)] as [Bound, Bound];
      const basic = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
      const tokenFrom = async (b: Bound): Promise<string> => {
        const res = await sendTo(server, b, {
          method: 'GET',
          path: `/token?service=${encodeURIComponent(SERVICE)}&scope=${encodeURIComponent(`repository:${repo}:pull,push`)}`,
          headers: { Authorization: basic },
        });
        expect(res.status).toBe(200);
        expect(await log.pidOf(res.id)).toBe(b.pid);
        return (JSON.parse(res.body.toString()) as { token: string }).token;
      };
      const [token0, token1] = [await tokenFrom(bound[0]), await tokenFrom(bound[1])];
      const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });

      // Auth is on, on both: no token, no access; a token whose claims were altered is refused.
      const [h, , sig] = token0.split('.');
      const altered = `${h}.${Buffer.from(JSON.stringify({ sub: 'admin', access: [{ type: 'repository', name: repo, actions: ['pull', 'push'] }] })).toString('base64url')}.${sig}`;
      for (const b of bound) {
        const anonymous = await sendTo(server, b, { method: 'GET', path: `/v2/${repo}/tags/list` });
        expect(anonymous.status).toBe(401);
        expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer /);
        expect((await sendTo(server, b, { method: 'GET', path: `/v2/${repo}/tags/list`, headers: bearer(altered) })).status).toBe(401);
      }

      // Push: each request on the worker that did not issue its token.
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, run: RUN }));
      const layer = deterministicBytes(40 * KIB, `${RUN}-token-layer`);
      const manifest = imageManifestBytes(descriptorOf(MT.ociConfig, config), [descriptorOf(MT.ociLayer, layer)]);
      const ids: string[] = [];
      const expectStatus = async (b: Bound, token: string, opts: Omit<SendOptions, 'agent' | 'headers'> & { headers?: Record<string, string> }, status: number): Promise<Sent> => {
        const res = await sendTo(server, b, { ...opts, headers: { ...opts.headers, ...bearer(token) } });
        expect({ request: `${opts.method} ${opts.path}`, status: res.status }).toEqual({ request: `${opts.method} ${opts.path}`, status });
        ids.push(res.id);
        return res;
      };
      const blobPost = (blob: Buffer): Omit<SendOptions, 'agent'> => ({
        method: 'POST',
        path: `/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`,
        headers: { 'Content-Type': 'application/octet-stream' },
        body: blob,
      });
      await expectStatus(bound[1], token0, blobPost(config), 201);
      await expectStatus(bound[0], token1, blobPost(layer), 201);
      await expectStatus(bound[1], token0, { method: 'PUT', path: `/v2/${repo}/manifests/v1`, headers: { 'Content-Type': MT.ociManifest }, body: manifest }, 201);

      // Pull, the same way round.
      const pulled = await expectStatus(bound[0], token1, { method: 'GET', path: `/v2/${repo}/manifests/v1`, headers: { Accept: MT.ociManifest } }, 200);
      expect(pulled.body.equals(manifest)).toBe(true);
      expect((await expectStatus(bound[1], token0, { method: 'GET', path: `/v2/${repo}/blobs/${sha256(layer)}` }, 200)).body.equals(layer)).toBe(true);
      expect((await expectStatus(bound[0], token1, { method: 'GET', path: `/v2/${repo}/blobs/${sha256(config)}` }, 200)).body.equals(config)).toBe(true);

      const lines = await Promise.all(ids.map((id) => log.waitForLine(id)));
      expect(lines.map((l) => l.pid)).toEqual([workers[1], workers[0], workers[1], workers[0], workers[1], workers[0]]);
      for (const line of lines) expect(line.user).toBe('admin');

      // And on new connections, dealt to both workers: one token does for all of them.
      const fresh: string[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await send(server, { method: 'GET', path: `/v2/${repo}/blobs/${sha256(layer)}`, headers: bearer(token0) });
        expect(res.status).toBe(200);
        expect(res.body.equals(layer)).toBe(true);
        fresh.push(res.id);
      }
      expect(sorted(new Set(await log.pidsOf(fresh)))).toEqual(sorted(workers));
    });
  });
});
