import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, removeDir } from '../../test/utils/temp-dir';
import { FilesystemDriver } from './filesystem.driver';
import { describeStorageDriver } from './storage-driver.contract';

describeStorageDriver(FilesystemDriver.name, () => {
  const root = makeTempDir('fs-driver-');
  return Promise.resolve({ driver: new FilesystemDriver({ root }), dispose: () => Promise.resolve(removeDir(root)) });
});

describe(FilesystemDriver.name, () => {
  let root: string;
  let driver: FilesystemDriver;

  beforeEach(() => {
    root = makeTempDir('fs-driver-');
    driver = new FilesystemDriver({ root });
  });

  afterEach(() => {
    removeDir(root);
  });

  it('lays objects out as files under the root', async () => {
    await driver.write('blobs/sha256/ab/abc', Buffer.from('x'));
    expect(readdirSync(join(root, 'blobs/sha256/ab'))).toEqual(['abc']);
  });

  it('leaves no temporary file behind after a write', async () => {
    await driver.write('dir/obj', Buffer.from('one'));
    await driver.write('dir/obj', Buffer.from('two'));
    expect(readdirSync(join(root, 'dir'))).toEqual(['obj']);
  });

  it('skips temporary files left by a crash when listing', async () => {
    await driver.write('dir/obj', Buffer.from('x'));
    writeFileSync(join(root, 'dir', '.tmp-0123456789abcdef'), 'partial');
    const names: string[] = [];
    for await (const name of driver.list('dir')) names.push(name);
    expect(names).toEqual(['obj']);
  });

  it('never redirects', async () => {
    await expect(driver.redirectUrl()).resolves.toBeNull();
  });
});
