import type { Readable } from 'node:stream';
import { ChunkedRead, StorageDriver, StorageEntry, StorageError, StorageStat } from './storage-driver';

const KEY = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/;

/**
 * Wraps every driver: a key that is absolute, contains "..", empty segments or characters
 * outside a small safe set is refused before any driver sees it. Keys come from
 * storage-keys.ts, so a refusal here is a bug upstream, never user input reaching disk.
 */
export class CheckedDriver implements StorageDriver {
  constructor(private readonly inner: StorageDriver) {}

  get name(): string {
    return this.inner.name;
  }

  // Methods are async so that a refused key is a rejected promise (or a failing
  // iteration), like every other driver error, never a synchronous throw.
  private check(key: string, allowRoot = false): string {
    if (allowRoot && key === '') return key;
    if (!KEY.test(key) || key.split('/').some((s) => s === '.' || s === '..')) {
      throw new StorageError(this.inner.name, key, new Error('refused storage key'));
    }
    return key;
  }

  async stat(key: string): Promise<StorageStat | null> {
    return this.inner.stat(this.check(key));
  }
  async read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    return this.inner.read(this.check(key), range);
  }
  async readChunks(key: string, range?: { start: number; end: number }): Promise<ChunkedRead> {
    return this.inner.readChunks(this.check(key), range);
  }
  async write(key: string, body: Buffer | Readable): Promise<void> {
    return this.inner.write(this.check(key), body);
  }
  async append(key: string, offset: number, body: Readable): Promise<number> {
    return this.inner.append(this.check(key), offset, body);
  }
  async move(from: string, to: string): Promise<void> {
    return this.inner.move(this.check(from), this.check(to));
  }
  async delete(keyOrPrefix: string): Promise<void> {
    return this.inner.delete(this.check(keyOrPrefix));
  }
  async *list(prefix: string): AsyncIterable<string> {
    yield* this.inner.list(this.check(prefix, true));
  }
  async *walk(prefix: string): AsyncIterable<StorageEntry> {
    yield* this.inner.walk(this.check(prefix, true));
  }
  async redirectUrl(key: string, ttlSeconds: number): Promise<string | null> {
    return this.inner.redirectUrl(this.check(key), ttlSeconds);
  }
}
