/**
 * `registry backup <dir>`: a consistent copy of a running registry.
 *
 * 1. Take the GC lease (the database lock GC passes hold), waiting for a running pass to end:
 *    from now on nothing deletes blob bytes (only GC does), so every blob the snapshot will
 *    reference stays in storage until it is copied.
 * 2. Snapshot the database with SQLite's online backup API (DatabaseSnapshot).
 * 3. Copy the blobs the snapshot references, with their content-addressed paths
 *    (`storage/blobs/<alg>/<2 hex>/<hex>`), each re-hashed on the way: a blob that does not
 *    match its digest fails the backup instead of being preserved. Blobs are immutable, so
 *    copying them after the snapshot is safe; blobs committed after it are simply not in it.
 *    Upload staging (`storage/uploads`) is skipped: an interrupted upload is restarted.
 * 4. Copy the token signing key and the initial admin password file (mode 0600), when present.
 * 5. Release the lease.
 * The target is created mode 0700: it holds the signing key and password hashes.
 */
import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestAlgorithm, parseDigest } from '../common/oci/digest';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';
import { DatabaseSnapshot } from '../metadata/database-snapshot';
import { UnitOfWork } from '../metadata/unit-of-work';
import { StorageNotFoundError, type StorageDriver } from '../storage/storage-driver';
import { storageKeys } from '../storage/storage-keys';
import { STORAGE_DRIVER } from '../storage/storage.tokens';

/** The lease GC passes hold (GcService): holding it keeps every pass, anywhere, from starting. */
const GC_LOCK = 'gc';
const LEASE_TTL_MS = 2 * 60 * 1000;
const LEASE_RENEW_MS = 30 * 1000;
const COPY_CONCURRENCY = 8;

/** Files of the data dir copied as they are (secrets, mode 0600). */
const SECRET_FILES = [join('auth', 'token-signing-key.pem'), 'initial-admin-password'];

export interface BackupReport {
  dir: string;
  /** The database copy, relative to `dir`. */
  database: string;
  blobs: number;
  bytes: number;
  /** Other files copied, relative to `dir`. */
  files: string[];
  /** What the backup does not hold and must be kept elsewhere (a signing key configured outside the data dir). */
  notes: string[];
  durationMs: number;
}

/** A backup that cannot be made as asked (printed without a stack; exit 1, or 75 when `retryLater`). */
export class BackupError extends Error {
  constructor(
    message: string,
    readonly retryLater = false,
  ) {
    super(message);
  }
}

@Injectable()
export class BackupService {
  constructor(
    private readonly uow: UnitOfWork,
    @Inject(STORAGE_DRIVER) private readonly driver: StorageDriver,
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
  ) {}

  /** Backs up into `dir` (created; must be absent or empty). `waitMs`: how long to wait for a running GC pass. */
  async run(dir: string, options: { waitMs?: number } = {}): Promise<BackupReport> {
    const started = Date.now();
    const target = resolve(dir);
    this.prepareTarget(target);
    const holder = `backup:${randomUUID()}`;
    await this.acquireLease(holder, options.waitMs ?? 60_000);
    const renew = setInterval(() => void this.renewLease(holder), LEASE_RENEW_MS);
    renew.unref();
    try {
      const database = 'registry.db';
      const snapshot = await DatabaseSnapshot.create(this.config.database, join(target, database));
      let blobs = 0;
      let bytes = 0;
      try {
        await snapshot.releaseLock(GC_LOCK, holder);
        await this.forEachConcurrently(snapshot.blobs(), async (blob) => {
          await this.copyBlob(blob.digest, blob.size, target);
          blobs++;
          bytes += blob.size;
        });
      } finally {
        await snapshot.close();
      }
      const { files, notes } = this.copySecrets(target);
      return { dir: target, database, blobs, bytes, files, notes, durationMs: Date.now() - started };
    } finally {
      clearInterval(renew);
      await this.uow.run((stores) => stores.locks.release(GC_LOCK, holder));
    }
  }

  private prepareTarget(target: string): void {
    if (existsSync(target)) {
      if (!statSync(target).isDirectory()) throw new BackupError(`${target} exists and is not a directory`);
      if (readdirSync(target).length > 0) throw new BackupError(`${target} is not empty: back up into a new or empty directory`);
    }
    const storageRoot = resolve(this.config.storage.filesystem.root);
    if (target === resolve(this.config.dataDir) || target.startsWith(`${storageRoot}/`) || target === storageRoot) {
      throw new BackupError(`${target} is inside the registry's own data: back up somewhere else`);
    }
    mkdirSync(target, { recursive: true, mode: 0o700 });
  }

  private async acquireLease(holder: string, waitMs: number): Promise<void> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const acquired = await this.uow.run((stores) => stores.locks.acquire(GC_LOCK, holder, LEASE_TTL_MS, Date.now())).catch((error: unknown) => {
        // A server writing at the same moment can make this read-then-write transaction lose the race: retry.
        if (String((error as { code?: unknown }).code).startsWith('SQLITE_BUSY')) return false;
        throw error;
      });
      if (acquired) return;
      if (Date.now() >= deadline) throw new BackupError('a garbage collection pass is running (it holds the GC lock): try again when it has finished', true);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  private async renewLease(holder: string): Promise<void> {
    // Acquiring again as the same holder extends the lease; a failure is retried at the next tick.
    await this.uow.run((stores) => stores.locks.acquire(GC_LOCK, holder, LEASE_TTL_MS, Date.now())).catch(() => undefined);
  }

  /** Copies one blob to `<target>/storage/<its key>`, checking its size and digest on the way. */
  private async copyBlob(value: string, size: number, target: string): Promise<void> {
    const digest = parseDigest(value);
    const key = storageKeys.blob(digest);
    const file = join(target, 'storage', ...key.split('/'));
    mkdirSync(dirname(file), { recursive: true });
    let source;
    try {
      source = await this.driver.read(key);
    } catch (error) {
      if (error instanceof StorageNotFoundError) throw new BackupError(`blob ${digest} is in the database but missing from storage (${key}); the backup in ${target} is incomplete`);
      throw error;
    }
    const hash = createHash(digestAlgorithm(digest));
    let copied = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        copied += chunk.length;
        done(null, chunk);
      },
    });
    await pipeline(source, tap, createWriteStream(file, { flags: 'wx', flush: true }));
    const actual = `${digestAlgorithm(digest)}:${hash.digest('hex')}`;
    if (copied !== size || actual !== digest) {
      throw new BackupError(`blob ${digest} in storage is damaged (${copied} bytes, digest ${actual}; expected ${size} bytes); the backup in ${target} is incomplete`);
    }
  }

  private copySecrets(target: string): { files: string[]; notes: string[] } {
    const files: string[] = [];
    for (const name of SECRET_FILES) {
      const from = join(this.config.dataDir, name);
      if (!existsSync(from)) continue;
      mkdirSync(dirname(join(target, name)), { recursive: true, mode: 0o700 });
      copyFileSync(from, join(target, name));
      files.push(name);
    }
    const notes: string[] = [];
    if (this.config.auth.mode === 'token' && this.config.auth.keyFile !== undefined) {
      notes.push(`the token signing key is configured outside the data dir (REGISTRY_AUTH_TOKEN_KEY_FILE=${this.config.auth.keyFile}): keep a copy of it with this backup`);
    }
    if (resolve(dirname(this.config.database.filename)) !== resolve(this.config.dataDir)) {
      notes.push(`the database lives outside the data dir (${this.config.database.filename}): restore registry.db there`);
    }
    return { files, notes };
  }

  /** Runs `work` for each item, at most COPY_CONCURRENCY at a time; the first failure stops the rest. */
  private async forEachConcurrently<T>(items: AsyncIterable<T>, work: (item: T) => Promise<void>): Promise<void> {
    const iterator = items[Symbol.asyncIterator]();
    let failed = false;
    const worker = async (): Promise<void> => {
      while (!failed) {
        const next = await iterator.next();
        if (next.done) return;
        try {
          await work(next.value);
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    };
    const results = await Promise.allSettled(Array.from({ length: COPY_CONCURRENCY }, worker));
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) throw rejected.reason;
  }
}
