import { Readable } from 'node:stream';
import { makeTempDir, removeDir } from '../../test/utils/temp-dir';
import { CheckedDriver } from './checked.driver';
import { FilesystemDriver } from './filesystem.driver';
import { ChunkedRead, StorageDriver, StorageEntry, StorageError, StorageStat } from './storage-driver';
import { describeStorageDriver } from './storage-driver.contract';

/** A driver that only records which keys reached it. */
class RecordingDriver implements StorageDriver {
  readonly name = 'recording';
  readonly calls: string[] = [];

  stat(key: string): Promise<StorageStat | null> {
    this.calls.push(`stat ${key}`);
    return Promise.resolve(null);
  }
  read(key: string): Promise<Readable> {
    this.calls.push(`read ${key}`);
    return Promise.resolve(Readable.from([]));
  }
  readChunks(key: string): Promise<ChunkedRead> {
    this.calls.push(`readChunks ${key}`);
    return Promise.resolve({ forEach: () => Promise.resolve(), close: () => Promise.resolve() });
  }
  write(key: string): Promise<void> {
    this.calls.push(`write ${key}`);
    return Promise.resolve();
  }
  append(key: string, offset: number): Promise<number> {
    this.calls.push(`append ${key}`);
    return Promise.resolve(offset);
  }
  move(from: string, to: string): Promise<void> {
    this.calls.push(`move ${from} ${to}`);
    return Promise.resolve();
  }
  delete(key: string): Promise<void> {
    this.calls.push(`delete ${key}`);
    return Promise.resolve();
  }
  async *list(prefix: string): AsyncIterable<string> {
    this.calls.push(`list ${prefix}`);
    yield* [];
  }
  async *walk(prefix: string): AsyncIterable<StorageEntry> {
    this.calls.push(`walk ${prefix}`);
    yield* [];
  }
  redirectUrl(key: string): Promise<string | null> {
    this.calls.push(`redirectUrl ${key}`);
    return Promise.resolve(null);
  }
}

async function drain<T>(iterable: AsyncIterable<T>): Promise<void> {
  for await (const _ of iterable);
}

/** Every driver operation on `key` (move both ways). */
const operations: Array<[string, (d: StorageDriver, key: string) => Promise<unknown>]> = [
  ['stat', (d, key) => d.stat(key)],
  ['read', (d, key) => d.read(key)],
  ['write', (d, key) => d.write(key, Buffer.from('x'))],
  ['readChunks', (d, key) => d.readChunks(key)],
  ['append', (d, key) => d.append(key, 0, Readable.from([Buffer.from('x')]))],
  ['move from', (d, key) => d.move(key, 'uploads/ok/data')],
  ['move to', (d, key) => d.move('uploads/ok/data', key)],
  ['delete', (d, key) => d.delete(key)],
  ['list', (d, key) => drain(d.list(key))],
  ['walk', (d, key) => drain(d.walk(key))],
  ['redirectUrl', (d, key) => d.redirectUrl(key, 60)],
];

describeStorageDriver(`${CheckedDriver.name}(${FilesystemDriver.name})`, () => {
  const root = makeTempDir('checked-driver-');
  return Promise.resolve({ driver: new CheckedDriver(new FilesystemDriver({ root })), dispose: () => Promise.resolve(removeDir(root)) });
});

describe(CheckedDriver.name, () => {
  let inner: RecordingDriver;
  let driver: CheckedDriver;

  beforeEach(() => {
    inner = new RecordingDriver();
    driver = new CheckedDriver(inner);
  });

  it('takes its name from the driver it wraps', () => {
    expect(driver.name).toBe('recording');
  });

  it.each([
    ['a blob key', 'blobs/sha256/ab/abcdef0123'],
    ['an upload key', 'uploads/3f2c-9A_b/data'],
    ['a single segment', 'blobs'],
    ['dots inside a segment', 'a/b.c..d/e.'],
  ])('passes %s through to every operation', async (_, key) => {
    for (const [, operation] of operations) await operation(driver, key);
    expect(inner.calls).toHaveLength(operations.length);
    expect(inner.calls.every((call) => call.includes(key))).toBe(true);
  });

  const refused: Array<[string, string]> = [
    ['a dot-dot segment', 'uploads/../etc/passwd'],
    ['a leading dot-dot', '../outside'],
    ['a bare dot-dot', '..'],
    ['a dot segment', 'blobs/./x'],
    ['a leading slash', '/etc/passwd'],
    ['a trailing slash', 'blobs/'],
    ['an empty segment', 'blobs//x'],
    ['a hidden (temporary) name', 'blobs/.tmp-0123'],
    ['a backslash', 'blobs\\..\\x'],
    ['a space', 'blobs/a b'],
    ['a percent sign', 'blobs/a%2Fb'],
    ['a colon', 'blobs/sha256:abc'],
    ['a NUL byte', 'blobs/a\u0000b'],
    ['a newline', 'blobs/a\nb'],
    ['a non-ASCII letter', 'blobs/caf\u00e9'],
    ['a wildcard', 'blobs/*'],
    ['a tilde', '~/x'],
  ];

  describe.each(operations)('%s', (_, operation) => {
    it.each(refused)('refuses a key with %s before the driver sees it', async (__, key) => {
      const error: unknown = await operation(driver, key).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).key).toBe(key);
      expect((error as StorageError).driver).toBe('recording');
      expect(inner.calls.filter((call) => call.includes(key))).toEqual([]);
    });
  });

  it('reports a refused key as a rejection or a failing iteration, never a synchronous throw', async () => {
    let pending: Promise<StorageStat | null> | undefined;
    expect(() => (pending = driver.stat('../x'))).not.toThrow();
    await expect(pending).rejects.toBeInstanceOf(StorageError);
    let listing: AsyncIterable<string> | undefined;
    expect(() => (listing = driver.list('../x'))).not.toThrow();
    await expect(drain(listing!)).rejects.toBeInstanceOf(StorageError);
  });

  it('allows the empty key (the root) for list and walk', async () => {
    await drain(driver.list(''));
    await drain(driver.walk(''));
    expect(inner.calls).toEqual(['list ', 'walk ']);
  });

  it.each(operations.filter(([name]) => name !== 'list' && name !== 'walk'))('refuses the empty key for %s', async (_, operation) => {
    await expect(operation(driver, '')).rejects.toBeInstanceOf(StorageError);
    expect(inner.calls.filter((call) => call.endsWith(' '))).toEqual([]);
  });

  it('refuses to delete the root', async () => {
    await expect(driver.delete('')).rejects.toBeInstanceOf(StorageError);
    expect(inner.calls).toEqual([]);
  });

  it('never writes outside the root of a real filesystem driver', async () => {
    const parent = makeTempDir('checked-driver-parent-');
    try {
      const fs = new CheckedDriver(new FilesystemDriver({ root: `${parent}/root` }));
      await expect(fs.write('../escaped', Buffer.from('x'))).rejects.toBeInstanceOf(StorageError);
      await expect(new FilesystemDriver({ root: parent }).stat('escaped')).resolves.toBeNull();
    } finally {
      removeDir(parent);
    }
  });
});
