import { sql, type Kysely } from 'kysely';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, WalSync } from './database';
import type { Database } from './schema';
import { UnitOfWork } from './unit-of-work';

/** A promise with its resolve and reject, to hold a sync open while a test looks around. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending callback and timer of this turn run. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

/** Whether `promise` has settled by now. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await settle();
  return settled;
}

describe(WalSync.name, () => {
  it('resolves a lone sync once its datasync has finished', async () => {
    const gate = deferred();
    const datasync = jest.fn(() => gate.promise);
    const sync = new WalSync(datasync).sync();
    expect(await isSettled(sync)).toBe(false);
    gate.resolve();
    await sync;
    expect(datasync).toHaveBeenCalledTimes(1);
  });

  it('makes callers who arrive during a sync share one more, started only after it ends', async () => {
    const gates = [deferred(), deferred()];
    let calls = 0;
    const datasync = jest.fn(() => gates[calls++]!.promise);
    const walSync = new WalSync(datasync);
    const first = walSync.sync();
    const later = Array.from({ length: 10 }, () => walSync.sync()); // their commits may be after the first began
    await settle();
    expect(datasync).toHaveBeenCalledTimes(1);
    gates[0]!.resolve();
    await first;
    await settle();
    expect(datasync).toHaveBeenCalledTimes(2); // one for all ten
    expect(await isSettled(Promise.all(later))).toBe(false); // not on the strength of the first sync
    gates[1]!.resolve();
    await Promise.all(later);
    expect(datasync).toHaveBeenCalledTimes(2);
  });

  it('rejects the callers of a failed sync, and runs a new one for the next caller', async () => {
    const failure = new Error('EIO');
    const datasync = jest.fn().mockRejectedValueOnce(failure).mockResolvedValue(undefined);
    const walSync = new WalSync(datasync);
    await expect(walSync.sync()).rejects.toBe(failure);
    await expect(walSync.sync()).resolves.toBeUndefined();
    expect(datasync).toHaveBeenCalledTimes(2);
  });

  it('runs the queued sync even when the one before it failed', async () => {
    const gate = deferred();
    const datasync = jest.fn().mockReturnValueOnce(gate.promise).mockResolvedValue(undefined);
    const walSync = new WalSync(datasync);
    const first = walSync.sync();
    const second = walSync.sync();
    gate.reject(new Error('EIO'));
    await expect(first).rejects.toThrow('EIO');
    await expect(second).resolves.toBeUndefined();
    expect(datasync).toHaveBeenCalledTimes(2);
  });
});

describe('openDatabase on a file: commits wait for the WAL sync, off the event loop', () => {
  let dir: string;
  let db: Kysely<Database>;
  let fileHandle: { datasync: () => Promise<void> };
  let datasync: jest.SpyInstance;
  /** Paths of the files datasync'd, and the gate every datasync waits on while `holding`. */
  let synced: string[];
  let gate: ReturnType<typeof deferred>;
  let holding: boolean;

  beforeAll(async () => {
    // FileHandle is not exported: reach its prototype through a handle.
    const handle = await open(__filename, 'r');
    fileHandle = Object.getPrototypeOf(handle) as typeof fileHandle;
    await handle.close();
  });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'registry-db-'));
    db = await openDatabase({ dialect: 'sqlite', filename: join(dir, 'registry.db') });
    synced = [];
    holding = false;
    gate = deferred();
    const real = fileHandle.datasync;
    datasync = jest.spyOn(fileHandle, 'datasync').mockImplementation(async function (this: { fd: number }) {
      synced.push(readlinkSync(`/proc/self/fd/${this.fd}`));
      if (holding) await gate.promise;
      return real.call(this);
    });
  });

  afterEach(async () => {
    datasync.mockRestore();
    gate.resolve();
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** `pending` waits on the one datasync being held open, and settles once it is let go. */
  async function expectHeldBySync(pending: Promise<unknown>): Promise<void> {
    await settle();
    expect(synced).toHaveLength(1);
    expect(await isSettled(pending)).toBe(false);
    gate.resolve();
    await pending;
  }

  const insertRepository = (name: string) => db.insertInto('repositories').values({ name, created_at: 1 }).execute();

  it('runs SQLite with synchronous = NORMAL in WAL mode, the per-commit sync being its own', async () => {
    const synchronous = async (executor: Kysely<Database>): Promise<number> => (await sql<{ synchronous: number }>`pragma synchronous`.execute(executor)).rows[0]!.synchronous;
    expect(await synchronous(db)).toBe(1);
    const memory = await openDatabase({ dialect: 'sqlite', filename: ':memory:' });
    try {
      expect(await synchronous(memory)).toBe(2); // no WAL to sync: SQLite's FULL
    } finally {
      await memory.destroy();
    }
  });

  it('settles a write outside a transaction only after the WAL is datasync\'d, while reads go on', async () => {
    holding = true;
    const write = insertRepository('a');
    await settle();
    expect(synced).toEqual([join(dir, 'registry.db-wal')]);
    expect(await isSettled(write)).toBe(false);
    // The connection is free meanwhile: the committed row is readable before its sync ends.
    const row = await db.selectFrom('repositories').select('name').where('name', '=', 'a').executeTakeFirst();
    expect(row).toEqual({ name: 'a' });
    gate.resolve();
    await write;
  });

  it('settles a transaction only after the WAL sync that follows its commit', async () => {
    holding = true;
    const transaction = db.transaction().execute(async (trx) => {
      await trx.insertInto('repositories').values({ name: 'a', created_at: 1 }).execute();
      await trx.insertInto('repositories').values({ name: 'b', created_at: 1 }).execute();
      expect(synced).toEqual([]); // nothing is synced before the commit
    });
    await expectHeldBySync(transaction);
  });

  it('does not sync for reads, nor for a transaction rolled back', async () => {
    await insertRepository('a');
    synced = [];
    await db.selectFrom('repositories').selectAll().execute();
    await db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('repositories').values({ name: 'b', created_at: 1 }).execute();
        throw new Error('roll back');
      })
      .catch(() => undefined);
    expect(synced).toEqual([]);
  });

  it('does not wait for the sync of soft units (durable: false), but does when a durable unit shares their group', async () => {
    const uow = new UnitOfWork(db);
    holding = true;
    await uow.run((stores) => stores.repositories.createOrFind('soft', 1), { durable: false });
    expect(synced).toEqual([]);

    const group = Promise.all([
      uow.run((stores) => stores.repositories.createOrFind('soft-2', 1), { durable: false }),
      uow.run((stores) => stores.repositories.createOrFind('durable', 1)),
    ]);
    await expectHeldBySync(group);
  });

  it('makes an earlier soft commit durable with the next sync', async () => {
    const uow = new UnitOfWork(db);
    await uow.run((stores) => stores.uploads.create({ id: 'u1', repository: 'a', offset: 0, startedAt: 1, updatedAt: 1 }), { durable: false });
    expect(synced).toEqual([]);
    await uow.run((stores) => stores.repositories.createOrFind('a', 1));
    expect(synced).toEqual([join(dir, 'registry.db-wal')]); // the WAL, with both commits in it
  });

  it('rejects a write whose sync failed', async () => {
    datasync.mockRejectedValueOnce(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    await expect(insertRepository('a')).rejects.toThrow('EIO');
  });
});
