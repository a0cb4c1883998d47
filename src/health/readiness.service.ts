import { Inject, Injectable } from '@nestjs/common';
import { sql, type Kysely } from 'kysely';
import { randomUUID } from 'node:crypto';
import { METADATA_DB } from '../metadata/metadata.tokens';
import type { Database } from '../metadata/schema';
import { StorageError, type StorageDriver } from '../storage/storage-driver';
import { storageKeys } from '../storage/storage-keys';
import { STORAGE_DRIVER } from '../storage/storage.tokens';

const CHECK_TIMEOUT_MS = 5_000;

export interface CheckResult {
  ok: boolean;
  durationMs: number;
  /** The failure, without internals (no paths or stack). */
  error?: string;
}

export interface Readiness {
  ready: boolean;
  checks: { database: CheckResult; storage: CheckResult };
}

/**
 * The error code (`ENOSPC`, `EACCES`, `SQLITE_BUSY`…), also when a StorageError wraps it as its
 * cause: the messages of storage errors carry file paths, and /readyz is public.
 */
function failureOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? ((error as { cause?: NodeJS.ErrnoException } | undefined)?.cause)?.code;
  if (typeof code === 'string') return code;
  if (error instanceof StorageError) return 'storage error';
  return error instanceof Error ? error.message : String(error);
}

async function timed(check: () => Promise<unknown>): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS / 1000}s`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { ok: true, durationMs: Math.round(performance.now() - started) };
  } catch (error) {
    return { ok: false, durationMs: Math.round(performance.now() - started), error: failureOf(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** Readiness: the database answers a query and storage takes a write (and a delete) right now. */
@Injectable()
export class ReadinessService {
  constructor(
    @Inject(METADATA_DB) private readonly db: Kysely<Database>,
    @Inject(STORAGE_DRIVER) private readonly driver: StorageDriver,
  ) {}

  async check(): Promise<Readiness> {
    const [database, storage] = await Promise.all([
      timed(() => sql`select 1`.execute(this.db)),
      timed(async () => {
        const key = storageKeys.probe(randomUUID());
        await this.driver.write(key, Buffer.from('ready\n'));
        await this.driver.delete(key);
      }),
    ]);
    return { ready: database.ok && storage.ok, checks: { database, storage } };
  }
}
