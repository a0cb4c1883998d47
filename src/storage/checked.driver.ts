import type { Readable } from 'node:stream';
import { StorageDriver, StorageEntry, StorageError, StorageStat } from './storage-driver';

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

  private check(key: string, allowRoot = false): string {
    if (allowRoot && key === '') return key;
    if (!KEY.test(key) || key.split('/').some((s) => s === '.' || s === '..')) {
      throw new StorageError(this.inner.name, key, new Error('refused storage key'));
    }
    return key;
  }

  stat(key: string): Promise<StorageStat | null> {
    return this.inner.stat(this.check(key));
  }
  read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    return this.inner.read(this.check(key), range);
  }
  write(key: string, body: Buffer | Readable): Promise<void> {
    return this.inner.write(this.check(key), body);
  }
  append(key: string, offset: number, body: Readable): Promise<number> {
    return this.inner.append(this.check(key), offset, body);
  }
  move(from: string, to: string): Promise<void> {
    return this.inner.move(this.check(from), this.check(to));
  }
  delete(keyOrPrefix: string): Promise<void> {
    return this.inner.delete(this.check(keyOrPrefix));
  }
  list(prefix: string): AsyncIterable<string> {
    return this.inner.list(this.check(prefix, true));
  }
  walk(prefix: string): AsyncIterable<StorageEntry> {
    return this.inner.walk(this.check(prefix, true));
  }
  redirectUrl(key: string, ttlSeconds: number): Promise<string | null> {
    return this.inner.redirectUrl(this.check(key), ttlSeconds);
  }
}
