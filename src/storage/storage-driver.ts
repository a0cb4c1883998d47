import type { Readable } from 'node:stream';

/**
 * The storage port: bytes only. Drivers know nothing of digests, repositories or HTTP; keys
 * are relative, "/"-separated paths built by `storage-keys.ts` and checked by CheckedDriver.
 *
 * Errors: drivers throw only StorageNotFoundError (the key is absent) or StorageError
 * (anything else, with the driver, key and cause). Services translate them into OciErrors.
 */
export interface StorageDriver {
  /** Driver id, used in logs and errors. */
  readonly name: string;

  /** Size and modification time of an object, or null when it does not exist. */
  stat(key: string): Promise<StorageStat | null>;

  /**
   * A stream of the object, or of the inclusive byte range `[start, end]` of it.
   * Throws StorageNotFoundError when absent. The caller must consume or destroy the stream.
   */
  read(key: string, range?: { start: number; end: number }): Promise<Readable>;

  /**
   * Opens an object (or an inclusive byte range of it) for reading in chunks into buffers the
   * driver reuses: what serves blob GETs. A Readable allocates a new buffer per chunk, and on
   * a 256 MiB pull that churn of external memory set off a full V8 GC every few chunks.
   * Throws StorageNotFoundError, like `read`, before any byte is handed out.
   */
  readChunks(key: string, range?: { start: number; end: number }): Promise<ChunkedRead>;

  /**
   * Writes a whole object atomically: readers see all of it or nothing (temp file, fsync,
   * rename). An existing object is replaced.
   */
  write(key: string, body: Buffer | Readable): Promise<void>;

  /**
   * Appends `body` to a staging object at byte `offset`, for resumable uploads. Bytes past
   * `offset` (left by an interrupted earlier append) are discarded first; offset 0 creates
   * the object. Returns the object's size afterwards. Not atomic, and not durable until
   * `move`: staging objects are never served. Throws StorageNotFoundError when `offset` > 0
   * and the object is absent or shorter than `offset`.
   * Concurrency: the caller serialises appends to one key.
   */
  append(key: string, offset: number, body: Readable): Promise<number>;

  /**
   * Makes `from` durable and then visible at `to` in one atomic step (fsync + rename on a
   * filesystem). If `to` already exists it is replaced (content-addressed callers may skip
   * the move). Throws StorageNotFoundError when `from` is missing.
   */
  move(from: string, to: string): Promise<void>;

  /** Deletes an object or a whole prefix, recursively. A missing key is not an error. */
  delete(keyOrPrefix: string): Promise<void>;

  /** Direct children of a prefix (names, not full keys). An absent prefix has none. */
  list(prefix: string): AsyncIterable<string>;

  /** Every object under a prefix, recursively (for GC's orphan sweep and fsck). */
  walk(prefix: string): AsyncIterable<StorageEntry>;

  /** A URL the client may be redirected to for a GET of `key`, or null (never, for filesystem). */
  redirectUrl(key: string, ttlSeconds: number): Promise<string | null>;
}

/** An open object read in chunks (see StorageDriver.readChunks). */
export interface ChunkedRead {
  /**
   * Hands every chunk, in order, to `consume`. A chunk's memory is reused once the promise
   * `consume` returned resolves: finish with it (write it out) or copy it before resolving.
   * The next chunk is read while the previous one is being consumed. Closes the object when
   * done or failed; a rejection of `consume` ends the read with that error.
   */
  forEach(consume: (chunk: Buffer) => Promise<void>): Promise<void>;
  /** Closes the object without reading it (a caller that gives up before forEach). */
  close(): Promise<void>;
}

export interface StorageStat {
  size: number;
  modifiedAt: Date;
}

export interface StorageEntry extends StorageStat {
  key: string;
}

export class StorageNotFoundError extends Error {
  constructor(
    readonly driver: string,
    readonly key: string,
  ) {
    super(`${driver}: ${key} not found`);
  }
}

export class StorageError extends Error {
  constructor(
    readonly driver: string,
    readonly key: string,
    override readonly cause: unknown,
  ) {
    super(`${driver}: ${key}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}
