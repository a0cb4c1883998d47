import SQLite from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from './database';
import { DatabaseSnapshot } from './database-snapshot';
import type { Database } from './schema';
import { KyselyBlobStore } from './stores/blob.store';
import { KyselyLockStore } from './stores/lock.store';

const digestOf = (i: number): string => `sha256:${createHash('sha256').update(String(i)).digest('hex')}`;

describe(DatabaseSnapshot.name, () => {
  let dir: string;
  let live: Kysely<Database>;
  const liveFile = (): string => join(dir, 'registry.db');

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'db-snapshot-'));
    live = await openDatabase({ dialect: 'sqlite', filename: liveFile() });
  });
  afterEach(async () => {
    await live.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('copies the live database (WAL included) while it stays open, and lists every blob across pages', async () => {
    const blobs = new KyselyBlobStore(live);
    for (let i = 0; i < 2_345; i++) await blobs.createOrFind(digestOf(i), i, Date.now());

    const snapshot = await DatabaseSnapshot.create({ dialect: 'sqlite', filename: liveFile() }, join(dir, 'copy.db'));
    const listed: { digest: string; size: number }[] = [];
    for await (const blob of snapshot.blobs()) listed.push(blob);
    await snapshot.close();

    expect(listed).toHaveLength(2_345);
    expect(new Set(listed.map((b) => b.digest)).size).toBe(2_345);
    expect(listed.map((b) => b.digest)).toEqual([...listed.map((b) => b.digest)].sort());
    expect(listed.find((b) => b.digest === digestOf(1_234))?.size).toBe(1_234);
    // Closed, the copy is one self-contained file: its WAL was checkpointed away.
    expect(existsSync(join(dir, 'copy.db-wal'))).toBe(false);
    const copy = new SQLite(join(dir, 'copy.db'), { readonly: true });
    expect(copy.prepare('select count(*) as n from blobs').get()).toEqual({ n: 2_345 });
    copy.close();
  });

  it('is the database as of one moment: rows committed after it are not in the copy', async () => {
    const blobs = new KyselyBlobStore(live);
    await blobs.createOrFind(digestOf(1), 1, Date.now());
    const snapshot = await DatabaseSnapshot.create({ dialect: 'sqlite', filename: liveFile() }, join(dir, 'copy.db'));
    await blobs.createOrFind(digestOf(2), 2, Date.now());

    const listed: string[] = [];
    for await (const blob of snapshot.blobs()) listed.push(blob.digest);
    await snapshot.close();
    expect(listed).toEqual([digestOf(1)]);
  });

  it('drops a lease of the live process from the copy only', async () => {
    const locks = new KyselyLockStore(live);
    expect(await locks.acquire('gc', 'backup:1', 60_000, Date.now())).toBe(true);

    const snapshot = await DatabaseSnapshot.create({ dialect: 'sqlite', filename: liveFile() }, join(dir, 'copy.db'));
    await snapshot.releaseLock('gc', 'backup:1');
    await snapshot.close();

    expect(await locks.acquire('gc', 'someone-else', 60_000, Date.now())).toBe(false); // still held live
    const copy = await openDatabase({ dialect: 'sqlite', filename: join(dir, 'copy.db') });
    expect(await new KyselyLockStore(copy).acquire('gc', 'someone-else', 60_000, Date.now())).toBe(true);
    await copy.destroy();
  });

  it('refuses an in-memory database, and a missing one', async () => {
    await expect(DatabaseSnapshot.create({ dialect: 'sqlite', filename: ':memory:' }, join(dir, 'copy.db'))).rejects.toThrow(/in memory/);
    // A SqliteError: matched by its fields (the native addon's error class may come from another jest module registry).
    await expect(DatabaseSnapshot.create({ dialect: 'sqlite', filename: join(dir, 'nope.db') }, join(dir, 'copy.db'))).rejects.toMatchObject({ code: 'SQLITE_CANTOPEN' });
    expect(existsSync(join(dir, 'nope.db'))).toBe(false);
  });
});
