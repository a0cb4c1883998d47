import type { Kysely } from 'kysely';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRegistryConfig } from '../config/load-registry-config';
import type { RegistryConfig } from '../config/registry-config';
import { openDatabase } from '../metadata/database';
import type { Database } from '../metadata/schema';
import { UnitOfWork } from '../metadata/unit-of-work';
import { CheckedDriver } from '../storage/checked.driver';
import { FilesystemDriver } from '../storage/filesystem.driver';
import { BackupError, BackupService } from './backup.service';

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** The backup against a real SQLite file and filesystem storage, without Nest (the e2e spec runs it through the CLI). */
describe(BackupService.name, () => {
  let dir: string;
  let config: RegistryConfig;
  let db: Kysely<Database>;
  let uow: UnitOfWork;
  let driver: CheckedDriver;
  let backups: BackupService;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'backup-service-'));
    config = loadRegistryConfig({ REGISTRY_DATA_DIR: join(dir, 'data'), REGISTRY_AUTH: 'none' });
    db = await openDatabase(config.database);
    uow = new UnitOfWork(db);
    driver = new CheckedDriver(new FilesystemDriver(config.storage.filesystem));
    backups = new BackupService(uow, driver, config);
  });
  afterEach(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Stores `data` as a blob, bytes first then its row, as an upload commit does. */
  const storeBlob = async (data: Buffer): Promise<string> => {
    const digest = sha256(data);
    await driver.write(`blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}`, data);
    await uow.stores.blobs.createOrFind(digest, data.length, Date.now());
    return digest;
  };

  it('waits for a GC pass holding the lease, then backs up and gives the lease back', async () => {
    await storeBlob(Buffer.from('layer one'));
    expect(await uow.run((s) => s.locks.acquire('gc', 'a-gc-pass', 800, Date.now()))).toBe(true);

    const started = Date.now();
    const report = await backups.run(join(dir, 'copy'));

    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
    expect(report).toMatchObject({ blobs: 1, bytes: 9 });
    expect(await uow.run((s) => s.locks.acquire('gc', 'next-gc-pass', 60_000, Date.now()))).toBe(true);
  });

  it('gives up, as "try again later", when a GC pass keeps the lease past the wait', async () => {
    await uow.run((s) => s.locks.acquire('gc', 'a-long-gc-pass', 60_000, Date.now()));
    const error = await backups.run(join(dir, 'copy'), { waitMs: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).retryLater).toBe(true);
    expect(existsSync(join(dir, 'copy', 'registry.db'))).toBe(false);
  });

  it('refuses a blob whose bytes no longer match its digest, naming it', async () => {
    const digest = await storeBlob(Buffer.from('original bytes'));
    writeFileSync(join(config.storage.filesystem.root, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7)), 'tampered bytes');

    await expect(backups.run(join(dir, 'copy'))).rejects.toThrow(`blob ${digest} in storage is damaged`);
    // The lease is given back even so.
    expect(await uow.run((s) => s.locks.acquire('gc', 'next-gc-pass', 60_000, Date.now()))).toBe(true);
  });

  it.each([
    ['the data dir itself', (c: RegistryConfig) => c.dataDir],
    ['the blob store', (c: RegistryConfig) => join(c.storage.filesystem.root, 'backup')],
  ])('refuses to back up into %s', async (_, target) => {
    await expect(backups.run(target(config))).rejects.toThrow(BackupError);
  });

  it('refuses a path that is a file', async () => {
    writeFileSync(join(dir, 'file'), '');
    await expect(backups.run(join(dir, 'file'))).rejects.toThrow(`${join(dir, 'file')} exists and is not a directory`);
  });

  it('backs up into an existing empty directory', async () => {
    await storeBlob(Buffer.from('a'));
    await storeBlob(Buffer.from('b'));
    const target = mkdtempSync(join(dir, 'empty-'));
    expect(await backups.run(target)).toMatchObject({ dir: target, blobs: 2, bytes: 2, files: [], notes: [] });
    expect(readdirSync(target).sort()).toEqual(['registry.db', 'storage']);
  });
});
