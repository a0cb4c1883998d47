/**
 * Online GC benchmark: (a) a pass with nothing to collect on a store of N blobs, all
 * referenced; (b) a pass that collects C unreferenced blobs out of those N.
 *
 *   npm run bench:gc                      # N = 100,000, C = 10,000, 5 timed no-op passes
 *   npm run bench:gc -- --blobs=20000 --collect=2000 --runs=3 --profile
 *   npm run bench:gc -- --drop-index=blobs_gc_candidates_idx   # A/B: without that index
 *
 * Options: --blobs=N --collect=C --runs=R --per-manifest=K --repositories=P, --profile (SQL
 * statements and storage deletes timed during the passes, with query plans), --keep (leave
 * the data directory), --drop-index=NAME (repeatable).
 *
 * It boots the real Nest application context (GC schedule off, grace 0) on a temporary data
 * directory, seeds metadata in bulk through Kysely (repositories, blobs with their reference
 * counts, repository links, tagged image manifests referencing every blob) and writes the
 * blob files straight into the filesystem driver's layout. The C blobs of (b) become
 * unreferenced the way production does it: their manifests are deleted with removeManifest.
 * Times are wall-clock around GcService.run; --profile adds the time spent per SQL statement
 * during the GC passes, with SQLite's query plan of the costliest ones.
 */
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import SQLite from 'better-sqlite3';
import { sql, type InsertObject, type Insertable, type Kysely } from 'kysely';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AppModule } from '../src/app.module';
import { loadRegistryConfig } from '../src/config/load-registry-config';
import { GcService, type GcReport } from '../src/gc/gc.service';
import { removeManifest } from '../src/manifest/manifest-removal';
import { METADATA_DB } from '../src/metadata/metadata.tokens';
import type { Database } from '../src/metadata/schema';
import { UnitOfWork } from '../src/metadata/unit-of-work';
import type { StorageDriver } from '../src/storage/storage-driver';
import { STORAGE_DRIVER } from '../src/storage/storage.tokens';

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  blobs: number;
  collect: number;
  runs: number;
  /** Blobs per image manifest (1 config + layers). */
  perManifest: number;
  repositories: number;
  profile: boolean;
  keep: boolean;
  /** Indexes to drop after migrations (A/B comparisons of a schema change). */
  dropIndexes: string[];
}

function parseOptions(argv: string[]): Options {
  const options: Options = { blobs: 100_000, collect: 10_000, runs: 5, perManifest: 10, repositories: 4, profile: false, keep: false, dropIndexes: [] };
  for (const arg of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unknown argument ${arg}`);
    const [, name, value] = match as unknown as [string, string, string | undefined];
    const int = (): number => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} needs a non-negative integer`);
      return n;
    };
    switch (name) {
      case 'blobs':
        options.blobs = int();
        break;
      case 'collect':
        options.collect = int();
        break;
      case 'runs':
        options.runs = Math.max(1, int());
        break;
      case 'per-manifest':
        options.perManifest = Math.max(1, int());
        break;
      case 'repositories':
        options.repositories = Math.max(1, int());
        break;
      case 'profile':
        options.profile = true;
        break;
      case 'keep':
        options.keep = true;
        break;
      case 'drop-index':
        if (!value || !/^[a-z0-9_]+$/i.test(value)) throw new Error('--drop-index needs an index name');
        options.dropIndexes.push(value);
        break;
      default:
        throw new Error(`unknown option --${name}`);
    }
  }
  if (options.blobs % options.perManifest !== 0 || options.collect % options.perManifest !== 0) {
    throw new Error(`--blobs and --collect must be multiples of --per-manifest (${options.perManifest})`);
  }
  if (options.collect > options.blobs) throw new Error('--collect cannot exceed --blobs');
  return options;
}

// ---------------------------------------------------------------------------------------------
// SQL profile: better-sqlite3 statements timed while `profiler.on` (Kysely prepares every query).

interface StatementStats {
  sql: string;
  calls: number;
  ms: number;
  lastParams: unknown[];
}

class SqlProfiler {
  on = false;
  readonly stats = new Map<string, StatementStats>();
  private database: SQLite.Database | undefined;

  install(): void {
    const profiler = this; // the patched prepare runs with the database as `this`
    const prototype = SQLite.prototype;
    const prepare = prototype.prepare;
    prototype.prepare = function (this: SQLite.Database, source: string) {
      profiler.database = this;
      const statement = prepare.call(this, source);
      const time =
        <A extends unknown[], R>(run: (...params: A) => R) =>
        (...params: A): R => {
          if (!profiler.on) return run(...params);
          const started = performance.now();
          try {
            return run(...params);
          } finally {
            profiler.record(source, performance.now() - started, params);
          }
        };
      statement.all = time(statement.all.bind(statement)) as typeof statement.all;
      statement.run = time(statement.run.bind(statement)) as typeof statement.run;
      statement.get = time(statement.get.bind(statement)) as typeof statement.get;
      return statement;
    } as typeof prepare;
  }

  private record(source: string, ms: number, params: unknown[]): void {
    const key = source.replace(/\?(?:\s*,\s*\?)+/g, '?, …'); // IN lists of any length are one statement
    const entry = this.stats.get(key) ?? { sql: source, calls: 0, ms: 0, lastParams: [] };
    entry.calls++;
    entry.ms += ms;
    entry.sql = source;
    entry.lastParams = params;
    this.stats.set(key, entry);
  }

  /** The costliest statements, with the plan SQLite chose for their last parameters. */
  report(top: number): string {
    const rows = [...this.stats.values()].sort((a, b) => b.ms - a.ms).slice(0, top);
    const lines: string[] = [];
    for (const s of rows) {
      lines.push(`  ${s.ms.toFixed(1).padStart(9)} ms  ${String(s.calls).padStart(6)} calls  ${shorten(s.sql)}`);
      if (this.database && /^\s*(select|update|delete)/i.test(s.sql)) {
        const flat = s.lastParams.length === 1 && Array.isArray(s.lastParams[0]) ? (s.lastParams[0] as unknown[]) : s.lastParams;
        try {
          const plan = this.database.prepare(`explain query plan ${s.sql}`).all(...flat) as { detail: string }[];
          for (const p of plan) lines.push(`${' '.repeat(32)}plan: ${p.detail}`);
        } catch (error) {
          lines.push(`${' '.repeat(32)}plan: (unavailable: ${error instanceof Error ? error.message : String(error)})`);
        }
      }
    }
    return lines.join('\n');
  }

  reset(): void {
    this.stats.clear();
    this.storage = { calls: 0, ms: 0 };
  }

  /** Storage deletes: calls, and wall time with at least one in flight. */
  storage = { calls: 0, ms: 0 };

  instrumentStorage(driver: StorageDriver): void {
    const remove = driver.delete.bind(driver);
    let inFlight = 0;
    let since = 0;
    driver.delete = async (key: string): Promise<void> => {
      if (!this.on) return remove(key);
      if (inFlight++ === 0) since = performance.now();
      this.storage.calls++;
      try {
        await remove(key);
      } finally {
        if (--inFlight === 0) this.storage.ms += performance.now() - since;
      }
    };
  }

  /** Time in SQL statements (synchronous, so wall time on the main thread). */
  sqlMs(): number {
    return [...this.stats.values()].reduce((sum, s) => sum + s.ms, 0);
  }

  summary(passMs: number): string {
    const sqlMs = this.sqlMs();
    return `  pass ${passMs.toFixed(0)} ms = SQL ${sqlMs.toFixed(0)} ms + storage deletes ${this.storage.ms.toFixed(0)} ms wall (${this.storage.calls} calls) + rest ${(passMs - sqlMs - this.storage.ms).toFixed(0)} ms`;
  }
}

function shorten(statement: string): string {
  const flat = statement.replace(/\s+/g, ' ').replace(/\?(?:\s*,\s*\?)+/g, '?, …');
  return flat.length > 150 ? `${flat.slice(0, 147)}...` : flat;
}

// ---------------------------------------------------------------------------------------------
// Seeding

interface SeedBlob {
  digest: string;
  size: number;
}

interface SeedManifest {
  repository: string;
  digest: string;
  payload: Buffer;
  blobs: SeedBlob[];
}

const CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json';
const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const CHUNK = 1000; // rows per INSERT (≤ 6 columns: well under SQLite's variable limit)

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function blobPath(storageRoot: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(storageRoot, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

/** Writes every blob file, each 64 B to 1 KiB of random bytes, 16 at a time; returns the blobs. */
async function writeBlobFiles(storageRoot: string, count: number): Promise<SeedBlob[]> {
  for (let i = 0; i < 256; i++) mkdirSync(join(storageRoot, 'blobs', 'sha256', i.toString(16).padStart(2, '0')), { recursive: true });
  const blobs = new Array<SeedBlob>(count);
  let next = 0;
  const writer = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const content = randomBytes(64 + (i % 961));
      blobs[i] = { digest: sha256(content), size: content.length };
      await writeFile(blobPath(storageRoot, blobs[i].digest), content);
    }
  };
  await Promise.all(Array.from({ length: 16 }, writer));
  return blobs;
}

function buildManifests(blobs: SeedBlob[], perManifest: number, repositories: string[]): SeedManifest[] {
  const manifests: SeedManifest[] = [];
  for (let i = 0; i * perManifest < blobs.length; i++) {
    const own = blobs.slice(i * perManifest, (i + 1) * perManifest);
    const [config, ...layers] = own as [SeedBlob, ...SeedBlob[]];
    const payload = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST_TYPE,
        config: { mediaType: CONFIG_TYPE, digest: config.digest, size: config.size },
        layers: layers.map((l) => ({ mediaType: LAYER_TYPE, digest: l.digest, size: l.size })),
      }),
    );
    manifests.push({ repository: repositories[i % repositories.length]!, digest: sha256(payload), payload, blobs: own });
  }
  return manifests;
}

async function insertChunked<T extends keyof Database & string>(db: Kysely<Database>, table: T, rows: InsertObject<Database, T>[]): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) await db.insertInto(table).values(rows.slice(i, i + CHUNK)).execute();
}

/**
 * Metadata for a store where every blob is referenced by one tagged manifest of its
 * repository and linked to that repository; one blob in ten is also linked (mounted) into
 * the next repository.
 */
async function seedMetadata(db: Kysely<Database>, repositories: string[], manifests: SeedManifest[]): Promise<void> {
  const now = Date.now() - 24 * 3600_000;
  await db.transaction().execute(async (trx) => {
    await insertChunked(trx, 'repositories', repositories.map((name) => ({ name, created_at: now })));
  });
  const step = 1000; // manifests per transaction
  for (let start = 0; start < manifests.length; start += step) {
    const group = manifests.slice(start, start + step);
    await db.transaction().execute(async (trx) => {
      const blobs: Insertable<Database['blobs']>[] = [];
      const links: Insertable<Database['repository_blobs']>[] = [];
      const refs: Insertable<Database['manifest_refs']>[] = [];
      group.forEach((m, k) => {
        const next = repositories[(repositories.indexOf(m.repository) + 1) % repositories.length]!;
        m.blobs.forEach((b, j) => {
          blobs.push({ digest: b.digest, size: b.size, ref_count: 1, unreferenced_since: null, created_at: now });
          links.push({ repository: m.repository, digest: b.digest, created_at: now });
          if ((start + k + j) % 10 === 0 && next !== m.repository) links.push({ repository: next, digest: b.digest, created_at: now });
          refs.push({ repository: m.repository, manifest_digest: m.digest, child_digest: b.digest, child_kind: 'blob' });
        });
      });
      await insertChunked(trx, 'blobs', blobs);
      await insertChunked(trx, 'repository_blobs', links);
      await insertChunked(
        trx,
        'manifests',
        group.map((m) => ({
          repository: m.repository,
          digest: m.digest,
          media_type: MANIFEST_TYPE,
          artifact_type: null,
          subject_digest: null,
          annotations: null,
          size: m.payload.length,
          payload: m.payload,
          created_at: now,
          unreferenced_since: null,
        })),
      );
      await insertChunked(trx, 'manifest_refs', refs);
      await insertChunked(
        trx,
        'tags',
        group.map((m, k) => ({ repository: m.repository, name: `v${start + k}`, digest: m.digest, updated_at: now })),
      );
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Measurement helpers

const rssMiB = (): number => Math.round(process.resourceUsage().maxRSS / 1024); // maxRSS is in KiB
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const round = (ms: number): number => Math.round(ms * 10) / 10;

/** Peak RSS while passes run, sampled every 5 ms (maxRSS alone would show the seeding's peak). */
const rssDuringPasses = { peak: 0 };

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const sample = (): void => void (rssDuringPasses.peak = Math.max(rssDuringPasses.peak, process.memoryUsage.rss()));
  const sampler = setInterval(sample, 5);
  const started = performance.now();
  try {
    const value = await work();
    return { ms: performance.now() - started, value };
  } finally {
    clearInterval(sampler);
    sample();
  }
}

async function count(db: Kysely<Database>, table: keyof Database & string, where?: ReturnType<typeof sql<boolean>>): Promise<number> {
  const query = db.selectFrom(table).select(sql<number>`count(*)`.as('n'));
  const row = await (where ? query.where(where) : query).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Lets the kernel write back the seeded files first, so the timed passes do not share the disk with it. */
function flushDisk(): void {
  try {
    execFileSync('sync');
  } catch {
    // no sync(1): measurements are only noisier
  }
}

/** rm -rf, 16 shard directories at a time (a serial rmSync of 100k files can take a minute). */
async function removeTree(dir: string): Promise<void> {
  const shardsDir = join(dir, 'storage', 'blobs', 'sha256');
  const shards = existsSync(shardsDir) ? await readdir(shardsDir) : [];
  let next = 0;
  const remover = async (): Promise<void> => {
    while (next < shards.length) await rm(join(shardsDir, shards[next++]!), { recursive: true, force: true });
  };
  await Promise.all(Array.from({ length: 16 }, remover));
  await rm(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const profiler = new SqlProfiler();
  profiler.install();
  const dataDir = mkdtempSync(join(tmpdir(), 'gc-bench-'));
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  log(`gc-bench: ${options.blobs} blobs, ${options.collect} to collect, ${options.runs} no-op runs; data in ${dataDir}`);

  const config = loadRegistryConfig({ REGISTRY_DATA_DIR: dataDir, REGISTRY_GC_INTERVAL: '0', REGISTRY_GC_GRACE: '0' });
  const app = await NestFactory.createApplicationContext(AppModule.forRoot(config), { logger: ['warn', 'error'] });
  try {
    const db = app.get<Kysely<Database>>(METADATA_DB);
    const gc = app.get(GcService);
    const uow = app.get(UnitOfWork);
    if (options.profile) profiler.instrumentStorage(app.get<StorageDriver>(STORAGE_DRIVER));
    for (const index of options.dropIndexes) {
      await sql`drop index ${sql.id(index)}`.execute(db);
      log(`dropped index ${index}`);
    }
    const storageRoot = config.storage.filesystem.root;
    const repositories = Array.from({ length: options.repositories }, (_, i) => `bench/repo-${i}`);

    // Seed.
    const files = await timed(() => writeBlobFiles(storageRoot, options.blobs));
    const blobs = files.value;
    const manifests = buildManifests(blobs, options.perManifest, repositories);
    const seeded = await timed(() => seedMetadata(db, repositories, manifests));
    await sql`pragma wal_checkpoint(TRUNCATE)`.execute(db);
    flushDisk();
    log(`seeded ${blobs.length} blob files in ${(files.ms / 1000).toFixed(1)} s, metadata (${manifests.length} manifests) in ${(seeded.ms / 1000).toFixed(1)} s; peak RSS ${rssMiB()} MiB`);
    const referenced = await count(db, 'blobs', sql<boolean>`ref_count > 0 and unreferenced_since is null`);
    if (referenced !== options.blobs) throw new Error(`expected ${options.blobs} referenced blobs, found ${referenced}`);

    // (a) Nothing to collect.
    const rssBeforeNoop = Math.round(process.memoryUsage.rss() / 2 ** 20);
    rssDuringPasses.peak = 0;
    const noop: { ms: number; report: GcReport }[] = [];
    profiler.on = options.profile;
    for (let i = 0; i < options.runs; i++) {
      const run = await timed(() => gc.run({ trigger: 'cli' }));
      if (run.value.deletedLayers + run.value.deletedManifests + run.value.deletedUploads !== 0) {
        throw new Error(`no-op pass deleted something: ${JSON.stringify(run.value)}`);
      }
      noop.push({ ms: run.ms, report: run.value });
    }
    profiler.on = false;
    if (options.profile) {
      const total = noop.reduce((sum, r) => sum + r.ms, 0);
      log(`\nprofile, ${options.runs} no-op passes:\n${profiler.summary(total)}\n  top SQL statements by time:\n${profiler.report(6)}`);
    }
    profiler.reset();

    const rssNoopPasses = Math.round(rssDuringPasses.peak / 2 ** 20);
    // (b) Make `collect` blobs unreferenced, the production way (delete their manifests), an
    // hour ago, spread over the digest space (every k-th manifest).
    const doomedManifests = options.collect / options.perManifest;
    const stride = manifests.length / Math.max(1, doomedManifests);
    const doomed = Array.from({ length: doomedManifests }, (_, i) => manifests[Math.floor(i * stride)]!);
    const doomedBlobs = new Set(doomed.flatMap((m) => m.blobs.map((b) => b.digest)));
    const unreference = await timed(async () => {
      const past = Date.now() - 3600_000;
      for (let i = 0; i < doomed.length; i += 100) {
        await uow.run(async (stores) => {
          for (const m of doomed.slice(i, i + 100)) {
            if (!(await removeManifest(stores, m.repository, m.digest, past))) throw new Error(`manifest ${m.digest} missing`);
          }
        });
      }
    });
    await sql`pragma wal_checkpoint(TRUNCATE)`.execute(db);
    flushDisk();
    const unreferenced = await count(db, 'blobs', sql<boolean>`ref_count <= 0 and unreferenced_since is not null`);
    if (unreferenced !== doomedBlobs.size) throw new Error(`expected ${doomedBlobs.size} unreferenced blobs, found ${unreferenced}`);
    log(`unreferenced ${unreferenced} blobs (deleted ${doomed.length} manifests) in ${(unreference.ms / 1000).toFixed(1)} s`);

    const rssBeforeCollect = Math.round(process.memoryUsage.rss() / 2 ** 20);
    rssDuringPasses.peak = 0;
    profiler.on = options.profile;
    const collect = await timed(() => gc.run({ trigger: 'cli' }));
    profiler.on = false;
    const rssCollectPass = Math.round(rssDuringPasses.peak / 2 ** 20);
    if (options.profile) log(`\nprofile, collecting pass:\n${profiler.summary(collect.ms)}\n  top SQL statements by time:\n${profiler.report(8)}`);

    const verifyStarted = performance.now();
    // Verify: exactly the doomed blobs went, rows and files; everything else is intact.
    const problems: string[] = [];
    if (collect.value.deletedLayers !== doomedBlobs.size) problems.push(`deletedLayers ${collect.value.deletedLayers} != ${doomedBlobs.size}`);
    const expectedBytes = blobs.filter((b) => doomedBlobs.has(b.digest)).reduce((sum, b) => sum + b.size, 0);
    if (collect.value.reclaimedBytes !== expectedBytes) problems.push(`reclaimedBytes ${collect.value.reclaimedBytes} != ${expectedBytes}`);
    let goneStill = 0;
    let missing = 0;
    for (const b of blobs) {
      const present = existsSync(blobPath(storageRoot, b.digest));
      if (doomedBlobs.has(b.digest) && present) goneStill++;
      if (!doomedBlobs.has(b.digest) && !present) missing++;
    }
    if (goneStill > 0) problems.push(`${goneStill} collected blob files still on disk`);
    if (missing > 0) problems.push(`${missing} live blob files missing`);
    const remainingRows = await count(db, 'blobs');
    if (remainingRows !== options.blobs - doomedBlobs.size) problems.push(`${remainingRows} blob rows remain, expected ${options.blobs - doomedBlobs.size}`);
    const pending = await count(db, 'gc_pending_deletes');
    if (pending !== 0) problems.push(`${pending} rows left in gc_pending_deletes`);
    const danglingLinks = await count(db, 'repository_blobs', sql<boolean>`digest not in (select digest from blobs)`);
    if (danglingLinks !== 0) problems.push(`${danglingLinks} repository links to deleted blobs`);
    if (problems.length > 0) throw new Error(`verification failed:\n  ${problems.join('\n  ')}`);
    log(`verified rows and files in ${((performance.now() - verifyStarted) / 1000).toFixed(1)} s`);

    // One more no-op pass on the smaller store, for comparison.
    const after = await timed(() => gc.run({ trigger: 'cli' }));

    const noopMs = noop.map((r) => r.ms);
    const result = {
      blobs: options.blobs,
      noopRunsMs: noopMs.map(round),
      noopMedianMs: round(median(noopMs)),
      collected: collect.value.deletedLayers,
      collectMs: round(collect.ms),
      collectPerBlobMs: Math.round((collect.ms / Math.max(1, collect.value.deletedLayers)) * 1000) / 1000,
      reclaimedBytes: collect.value.reclaimedBytes,
      noopAfterCollectMs: round(after.ms),
      peakRssMiB: rssMiB(),
      rssBeforeNoopPassesMiB: rssBeforeNoop,
      rssDuringNoopPassesMiB: rssNoopPasses,
      rssBeforeCollectPassMiB: rssBeforeCollect,
      rssDuringCollectPassMiB: rssCollectPass,
      seedSeconds: round((files.ms + seeded.ms) / 1000),
      node: process.version,
    };
    log('');
    log('| measurement                                   | value |');
    log('|-----------------------------------------------|-------|');
    log(`| (a) no-op pass, ${options.blobs} referenced blobs, median of ${options.runs} | ${result.noopMedianMs} ms (runs: ${result.noopRunsMs.join(', ')}) |`);
    log(`| (b) pass collecting ${result.collected} blobs (${result.reclaimedBytes} B) | ${result.collectMs} ms (${result.collectPerBlobMs} ms/blob) |`);
    log(`| no-op pass afterwards, ${remainingRows} blobs | ${result.noopAfterCollectMs} ms |`);
    log(`| peak RSS during the (a) passes / the (b) pass | ${rssNoopPasses} MiB / ${rssCollectPass} MiB (before: ${rssBeforeNoop} / ${rssBeforeCollect} MiB) |`);
    log(`| peak RSS of the process (seeding included)   | ${result.peakRssMiB} MiB |`);
    log('');
    log(`GC_BENCH_RESULT ${JSON.stringify(result)}`);
  } finally {
    await app.close();
    if (options.keep) log(`kept ${dataDir}`);
    else {
      const started = performance.now();
      await removeTree(dataDir);
      log(`removed ${dataDir} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  }
}

main().catch((error: unknown) => {
  Logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error), 'gc-bench');
  process.exitCode = 1;
});
