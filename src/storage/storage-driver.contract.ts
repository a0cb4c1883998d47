/**
 * The storage driver contract: every StorageDriver must pass this suite. Call it from a spec
 * with a factory that makes a fresh, empty driver (and a way to dispose of it):
 *
 *   describeStorageDriver(FilesystemDriver.name, async () => { … return { driver, dispose } });
 */
import { PassThrough, Readable } from 'node:stream';
import { StorageDriver, StorageEntry, StorageError, StorageNotFoundError } from './storage-driver';

export interface StorageDriverFixture {
  driver: StorageDriver;
  /** Releases whatever the factory made (temp dirs, servers). */
  dispose(): Promise<void>;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** Dates made by Node's fs come from another realm under jest, so `instanceof Date` is unreliable. */
const isDate = (value: unknown): boolean => Object.prototype.toString.call(value) === '[object Date]' && !Number.isNaN((value as Date).getTime());

const streamOf = (...parts: string[]): Readable => Readable.from(parts.map((p) => Buffer.from(p)));

/** A stream that emits `first` and then fails. */
function failingStream(first: string): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(Buffer.from(first));
      } else {
        this.destroy(new Error('client went away'));
      }
    },
  });
}

export function describeStorageDriver(name: string, factory: () => Promise<StorageDriverFixture>): void {
  describe(`${name} (storage driver contract)`, () => {
    let fixture: StorageDriverFixture;
    let driver: StorageDriver;

    beforeEach(async () => {
      fixture = await factory();
      driver = fixture.driver;
    });

    afterEach(async () => {
      await fixture.dispose();
    });

    const text = async (key: string, range?: { start: number; end: number }): Promise<string> => (await readAll(await driver.read(key, range))).toString();
    const keys = async (prefix: string): Promise<string[]> => (await collect(driver.walk(prefix))).map((e) => e.key).sort();

    it('has a name', () => {
      expect(typeof driver.name).toBe('string');
      expect(driver.name.length).toBeGreaterThan(0);
    });

    describe('stat', () => {
      it('answers null for a missing key', async () => {
        await expect(driver.stat('blobs/sha256/ab/missing')).resolves.toBeNull();
      });

      it('answers the size and modification time of an object', async () => {
        const before = Date.now();
        await driver.write('a/b/object', Buffer.from('hello'));
        const stat = await driver.stat('a/b/object');
        expect(stat?.size).toBe(5);
        expect(isDate(stat?.modifiedAt)).toBe(true);
        expect(stat!.modifiedAt.getTime()).toBeGreaterThanOrEqual(before - 2000);
        expect(stat!.modifiedAt.getTime()).toBeLessThanOrEqual(Date.now() + 2000);
      });

      it('answers size 0 for an empty object', async () => {
        await driver.write('empty', Buffer.alloc(0));
        await expect(driver.stat('empty')).resolves.toMatchObject({ size: 0 });
      });

      it('answers null for a prefix that holds objects but is not one', async () => {
        await driver.write('a/b/object', Buffer.from('x'));
        await expect(driver.stat('a/b')).resolves.toBeNull();
      });
    });

    describe('read', () => {
      beforeEach(async () => {
        await driver.write('obj', Buffer.from('0123456789'));
      });

      it('streams a whole object', async () => {
        await expect(text('obj')).resolves.toBe('0123456789');
      });

      it('streams an inclusive byte range', async () => {
        await expect(text('obj', { start: 2, end: 5 })).resolves.toBe('2345');
      });

      it('streams a one-byte range at either end', async () => {
        await expect(text('obj', { start: 0, end: 0 })).resolves.toBe('0');
        await expect(text('obj', { start: 9, end: 9 })).resolves.toBe('9');
      });

      it('streams a range that ends on the last byte', async () => {
        await expect(text('obj', { start: 7, end: 9 })).resolves.toBe('789');
      });

      it('streams an empty object as no bytes', async () => {
        await driver.write('empty', Buffer.alloc(0));
        await expect(text('empty')).resolves.toBe('');
      });

      it('streams a large object intact', async () => {
        const big = Buffer.alloc(3 * 1024 * 1024 + 17);
        for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
        await driver.write('big', big);
        expect((await readAll(await driver.read('big'))).equals(big)).toBe(true);
        const range = await readAll(await driver.read('big', { start: 1024 * 1024 - 3, end: 2 * 1024 * 1024 + 5 }));
        expect(range.equals(big.subarray(1024 * 1024 - 3, 2 * 1024 * 1024 + 6))).toBe(true);
      });

      it('rejects a missing key with StorageNotFoundError before any byte is streamed', async () => {
        const error: unknown = await driver.read('missing/key').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StorageNotFoundError);
        expect((error as StorageNotFoundError).key).toBe('missing/key');
        expect((error as StorageNotFoundError).driver).toBe(driver.name);
      });
    });

    describe('readChunks', () => {
      /**
       * Reads through readChunks. With a delay, each chunk is copied only after it, as a slow
       * socket would send it: a buffer reused before its consumer resolved shows as wrong bytes.
       */
      const chunked = async (key: string, range?: { start: number; end: number }, delayMs = 0): Promise<Buffer> => {
        const parts: Buffer[] = [];
        await (await driver.readChunks(key, range)).forEach(async (chunk) => {
          if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
          parts.push(Buffer.from(chunk));
        });
        return Buffer.concat(parts);
      };
      let big: Buffer;
      beforeEach(async () => {
        await driver.write('obj', Buffer.from('0123456789'));
        big = Buffer.alloc(5 * 1024 * 1024 + 17);
        for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 12)) & 0xff;
        await driver.write('big', big);
      });

      it('hands out a whole object, an inclusive range and one-byte ranges at either end', async () => {
        expect((await chunked('obj')).toString()).toBe('0123456789');
        expect((await chunked('obj', { start: 2, end: 5 })).toString()).toBe('2345');
        expect((await chunked('obj', { start: 0, end: 0 })).toString()).toBe('0');
        expect((await chunked('obj', { start: 9, end: 9 })).toString()).toBe('9');
      });

      it('hands out an empty object as no chunk', async () => {
        await driver.write('empty', Buffer.alloc(0));
        const seen: number[] = [];
        await (await driver.readChunks('empty')).forEach((chunk) => Promise.resolve(void seen.push(chunk.length)));
        expect(seen).toEqual([]);
      });

      it('keeps every byte intact over many chunks, with a slow consumer while the next chunk is read (buffers reused)', async () => {
        expect((await chunked('big', undefined, 2)).equals(big)).toBe(true);
        const range = { start: 1024 * 1024 - 3, end: 4 * 1024 * 1024 + 5 };
        expect((await chunked('big', range, 1)).equals(big.subarray(range.start, range.end + 1))).toBe(true);
      });

      it('ends with the error of a consumer that fails, and reads nothing more', async () => {
        let calls = 0;
        const failure = new Error('client gone');
        const read = await driver.readChunks('big');
        await expect(
          read.forEach(() => {
            calls++;
            return Promise.reject(failure);
          }),
        ).rejects.toBe(failure);
        expect(calls).toBe(1);
      });

      it('rejects a missing key with StorageNotFoundError before any chunk, and closes an object given up unread', async () => {
        const error: unknown = await driver.readChunks('missing/key').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StorageNotFoundError);
        expect((error as StorageNotFoundError).key).toBe('missing/key');
        await (await driver.readChunks('obj')).close();
      });
    });

    describe('write', () => {
      it('writes a Buffer, creating the parent prefixes', async () => {
        await driver.write('x/y/z/object', Buffer.from('buffer body'));
        await expect(text('x/y/z/object')).resolves.toBe('buffer body');
      });

      it('writes a stream', async () => {
        await driver.write('streamed', streamOf('part one, ', 'part two'));
        await expect(text('streamed')).resolves.toBe('part one, part two');
      });

      it('replaces an existing object entirely (no stale tail from a longer one)', async () => {
        await driver.write('obj', Buffer.from('a much longer original body'));
        await driver.write('obj', Buffer.from('short'));
        await expect(text('obj')).resolves.toBe('short');
        await expect(driver.stat('obj')).resolves.toMatchObject({ size: 5 });
      });

      it('is atomic: while a write is in flight readers see the old object, and nothing else appears', async () => {
        await driver.write('dir/obj', Buffer.from('old'));
        const body = new PassThrough();
        const writing = driver.write('dir/obj', body);
        body.write('new content, first half; ');
        await new Promise((r) => setTimeout(r, 20));
        await expect(text('dir/obj')).resolves.toBe('old');
        await expect(driver.stat('dir/obj')).resolves.toMatchObject({ size: 3 });
        expect(await collect(driver.list('dir'))).toEqual(['obj']);
        body.end('second half');
        await writing;
        await expect(text('dir/obj')).resolves.toBe('new content, first half; second half');
      });

      it('is atomic: a new object is invisible until complete', async () => {
        const body = new PassThrough();
        const writing = driver.write('dir/new', body);
        body.write('partial');
        await new Promise((r) => setTimeout(r, 20));
        await expect(driver.stat('dir/new')).resolves.toBeNull();
        await expect(driver.read('dir/new')).rejects.toBeInstanceOf(StorageNotFoundError);
        body.end();
        await writing;
        await expect(text('dir/new')).resolves.toBe('partial');
      });

      it('leaves the old object and no debris when the body fails midway', async () => {
        await driver.write('dir/obj', Buffer.from('old'));
        const error: unknown = await driver.write('dir/obj', failingStream('new bytes')).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StorageError);
        expect((error as StorageError).key).toBe('dir/obj');
        await expect(text('dir/obj')).resolves.toBe('old');
        await expect(keys('dir')).resolves.toEqual(['dir/obj']);
        expect(await collect(driver.list('dir'))).toEqual(['obj']);
      });
    });

    describe('append', () => {
      it('creates the object at offset 0 and answers its size', async () => {
        await expect(driver.append('uploads/u1/data', 0, streamOf('hello'))).resolves.toBe(5);
        await expect(text('uploads/u1/data')).resolves.toBe('hello');
      });

      it('continues an object at its current size', async () => {
        await driver.append('uploads/u1/data', 0, streamOf('hello'));
        await expect(driver.append('uploads/u1/data', 5, streamOf(', ', 'world'))).resolves.toBe(12);
        await expect(text('uploads/u1/data')).resolves.toBe('hello, world');
      });

      it('discards stale bytes past the offset before appending', async () => {
        await driver.append('uploads/u1/data', 0, streamOf('abcdefgh'));
        await expect(driver.append('uploads/u1/data', 3, streamOf('XY'))).resolves.toBe(5);
        await expect(text('uploads/u1/data')).resolves.toBe('abcXY');
        await expect(driver.stat('uploads/u1/data')).resolves.toMatchObject({ size: 5 });
      });

      it('truncates to the offset when the appended body is empty', async () => {
        await driver.append('uploads/u1/data', 0, streamOf('abcdefgh'));
        await expect(driver.append('uploads/u1/data', 4, streamOf())).resolves.toBe(4);
        await expect(text('uploads/u1/data')).resolves.toBe('abcd');
      });

      it('starts over at offset 0 on an existing object', async () => {
        await driver.append('uploads/u1/data', 0, streamOf('abcdefgh'));
        await expect(driver.append('uploads/u1/data', 0, streamOf('xy'))).resolves.toBe(2);
        await expect(text('uploads/u1/data')).resolves.toBe('xy');
      });

      it('creates an empty object from an empty body at offset 0', async () => {
        await expect(driver.append('uploads/u1/data', 0, streamOf())).resolves.toBe(0);
        await expect(driver.stat('uploads/u1/data')).resolves.toMatchObject({ size: 0 });
      });

      it('rejects an offset past the end with StorageNotFoundError and leaves the object alone', async () => {
        await driver.append('uploads/u1/data', 0, streamOf('abc'));
        await expect(driver.append('uploads/u1/data', 4, streamOf('d'))).rejects.toBeInstanceOf(StorageNotFoundError);
        await expect(text('uploads/u1/data')).resolves.toBe('abc');
      });

      it('rejects a non-zero offset on a missing object with StorageNotFoundError', async () => {
        await expect(driver.append('uploads/missing/data', 1, streamOf('x'))).rejects.toBeInstanceOf(StorageNotFoundError);
        await expect(driver.stat('uploads/missing/data')).resolves.toBeNull();
      });
    });

    describe('move', () => {
      it('makes the source visible at the target and removes the source', async () => {
        await driver.append('uploads/u1/data', 0, streamOf('blob bytes'));
        await driver.move('uploads/u1/data', 'blobs/sha256/ab/abcdef');
        await expect(text('blobs/sha256/ab/abcdef')).resolves.toBe('blob bytes');
        await expect(driver.stat('uploads/u1/data')).resolves.toBeNull();
      });

      it('replaces an existing target', async () => {
        await driver.write('target', Buffer.from('old and longer'));
        await driver.write('source', Buffer.from('new'));
        await driver.move('source', 'target');
        await expect(text('target')).resolves.toBe('new');
        await expect(driver.stat('source')).resolves.toBeNull();
      });

      it('rejects a missing source with StorageNotFoundError and leaves the target alone', async () => {
        await driver.write('target', Buffer.from('kept'));
        await expect(driver.move('missing', 'target')).rejects.toBeInstanceOf(StorageNotFoundError);
        await expect(text('target')).resolves.toBe('kept');
      });
    });

    describe('delete', () => {
      it('deletes an object', async () => {
        await driver.write('a/obj', Buffer.from('x'));
        await driver.delete('a/obj');
        await expect(driver.stat('a/obj')).resolves.toBeNull();
      });

      it('is idempotent: deleting a missing key succeeds', async () => {
        await expect(driver.delete('never/was')).resolves.toBeUndefined();
        await driver.write('a/obj', Buffer.from('x'));
        await driver.delete('a/obj');
        await expect(driver.delete('a/obj')).resolves.toBeUndefined();
      });

      it('deletes a whole prefix recursively and nothing beside it', async () => {
        await driver.write('uploads/u1/data', Buffer.from('1'));
        await driver.write('uploads/u1/more/deep', Buffer.from('2'));
        await driver.write('uploads/u10/data', Buffer.from('3'));
        await driver.delete('uploads/u1');
        await expect(keys('uploads')).resolves.toEqual(['uploads/u10/data']);
      });
    });

    describe('list', () => {
      it('answers the direct children of a prefix, objects and sub-prefixes alike, as names', async () => {
        await driver.write('blobs/sha256/ab/abc', Buffer.from('1'));
        await driver.write('blobs/sha256/cd/cde', Buffer.from('2'));
        await driver.write('blobs/sha256/readme', Buffer.from('3'));
        expect((await collect(driver.list('blobs/sha256'))).sort()).toEqual(['ab', 'cd', 'readme']);
        expect(await collect(driver.list('blobs/sha256/ab'))).toEqual(['abc']);
      });

      it('lists the root with an empty prefix', async () => {
        await driver.write('blobs/x', Buffer.from('1'));
        await driver.write('uploads/u/data', Buffer.from('2'));
        expect((await collect(driver.list(''))).sort()).toEqual(['blobs', 'uploads']);
      });

      it('answers nothing for an absent prefix', async () => {
        await expect(collect(driver.list('no/such/prefix'))).resolves.toEqual([]);
      });

      it('answers nothing for an empty store', async () => {
        await expect(collect(driver.list(''))).resolves.toEqual([]);
      });
    });

    describe('walk', () => {
      it('answers every object under a prefix with its full key, size and time', async () => {
        await driver.write('blobs/sha256/ab/abc', Buffer.from('1'));
        await driver.write('blobs/sha256/cd/cde', Buffer.from('22'));
        await driver.write('uploads/u/data', Buffer.from('333'));
        const entries = (await collect(driver.walk('blobs'))).sort((a, b) => a.key.localeCompare(b.key));
        expect(entries.map(({ key, size }) => ({ key, size }))).toEqual([
          { key: 'blobs/sha256/ab/abc', size: 1 },
          { key: 'blobs/sha256/cd/cde', size: 2 },
        ]);
        for (const entry of entries) expect(isDate(entry.modifiedAt)).toBe(true);
      });

      it('walks everything with an empty prefix', async () => {
        await driver.write('a', Buffer.from('1'));
        await driver.write('b/c/d', Buffer.from('2'));
        await expect(keys('')).resolves.toEqual(['a', 'b/c/d']);
      });

      it('answers nothing for an absent prefix', async () => {
        await expect(collect(driver.walk('no/such/prefix'))).resolves.toEqual([]);
      });

      it('includes empty objects', async () => {
        await driver.write('p/empty', Buffer.alloc(0));
        const entries: StorageEntry[] = await collect(driver.walk('p'));
        expect(entries.map(({ key, size }) => ({ key, size }))).toEqual([{ key: 'p/empty', size: 0 }]);
      });
    });

    describe('redirectUrl', () => {
      it('answers a URL or null', async () => {
        await driver.write('obj', Buffer.from('x'));
        const url = await driver.redirectUrl('obj', 60);
        if (url !== null) expect(() => new URL(url)).not.toThrow();
      });
    });
  });
}
