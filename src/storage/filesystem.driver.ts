/**
 * Filesystem driver. Atomicity comes from rename(2) within one filesystem: every object is
 * written to a temporary name in its final directory (or staged under uploads/), fsync'd,
 * renamed into place, and the directory fsync'd, so a crash leaves either the old state or
 * the whole new object, never a partial one. Temporary names start with ".tmp-", which no
 * storage key can, so listings skip them and GC's orphan sweep can remove them.
 */
import { randomBytes } from 'node:crypto';
import type { Dir } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, opendir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ChunkedRead, StorageDriver, StorageEntry, StorageError, StorageNotFoundError, StorageStat } from './storage-driver';

/**
 * Read buffer per blob GET. Measured with bench.mjs pull-blob (256 MiB, interleaved runs):
 * 0.5 MiB ~1.3 GB/s, 1 MiB ~1.5, 2 MiB ~1.7-1.8, 8 MiB ~0.8 (fresh 8 MiB buffers cost more
 * than the fewer writes save). Each stream holds about two buffers, so the size shrinks as
 * reads run concurrently, within a budget for all of them, and never exceeds the blob.
 */
const READ_BUFFER_MAX = 2 * 1024 * 1024;
const READ_BUFFER_MIN = 256 * 1024;
const READ_BUFFERS_BUDGET = 64 * 1024 * 1024;
/**
 * How much an upload may buffer ahead of the disk, per append: at most WRITE_BUFFER_MAX, less
 * as appends run concurrently, within a budget for all of them. A deep buffer lets the file
 * stream hand the thread pool one large writev instead of many 64 KiB writes (measured on a
 * 256 MiB PUT with its sha256: 1 MiB ~240 MB/s, 4 MiB ~255, 16 MiB ~280). It is a limit, not
 * an allocation: a 4 KiB blob still buffers 4 KiB.
 */
const WRITE_BUFFER_MAX = 16 * 1024 * 1024;
const WRITE_BUFFER_MIN = 1024 * 1024;
const WRITE_BUFFERS_BUDGET = 128 * 1024 * 1024;
/** Write-behind (see flushInBackground): flush every this many bytes of an append in progress… */
const WRITE_BEHIND_BYTES = 32 * 1024 * 1024;
const WRITE_BEHIND_CHECK_MS = 50;
/** …and after an append that wrote at least this much (a chunk of a chunked upload). */
const WRITE_BEHIND_MIN_BYTES = 4 * 1024 * 1024;

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';

  /** Staged files with a write-behind flush running (one at a time per file). */
  private readonly flushing = new Set<string>();
  /** Object reads in progress (they share READ_BUFFERS_BUDGET). */
  private activeReads = 0;
  /** Streamed writes and appends in progress (they share WRITE_BUFFERS_BUDGET). */
  private activeWrites = 0;

  constructor(private readonly options: { root: string }) {}

  private path(key: string): string {
    return key === '' ? this.options.root : join(this.options.root, key);
  }

  private fail(key: string, error: unknown): never {
    if (error instanceof StorageNotFoundError || error instanceof StorageError) throw error;
    if (isNotFound(error)) throw new StorageNotFoundError(this.name, key);
    throw new StorageError(this.name, key, error);
  }

  async stat(key: string): Promise<StorageStat | null> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { size: s.size, modifiedAt: s.mtime } : null;
    } catch (error) {
      if (isNotFound(error)) return null;
      return this.fail(key, error);
    }
  }

  async read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    try {
      // Open first so a missing object fails here, before any response header is written.
      const handle = await open(this.path(key), 'r');
      const length = range ? range.end - range.start + 1 : (await handle.stat()).size;
      // The stream owns the handle (and closes it); passing a bare fd would let GC close it mid-read.
      return handle.createReadStream({ autoClose: true, start: range?.start, end: range?.end, highWaterMark: this.readBufferSize(length) });
    } catch (error) {
      return this.fail(key, error);
    }
  }

  async readChunks(key: string, range?: { start: number; end: number }): Promise<ChunkedRead> {
    let handle: FileHandle;
    let start: number;
    let end: number;
    try {
      handle = await open(this.path(key), 'r');
      start = range?.start ?? 0;
      end = range ? range.end : (await handle.stat()).size - 1;
    } catch (error) {
      return this.fail(key, error);
    }
    let closed = false;
    const close = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      await handle.close();
    };
    const forEach = async (consume: (chunk: Buffer) => Promise<void>): Promise<void> => {
      this.activeReads++;
      try {
        if (end < start) return;
        // Two buffers: one being consumed while the next chunk is read into the other.
        const size = this.readBufferSize(end - start + 1);
        const buffers = [Buffer.allocUnsafeSlow(size), Buffer.allocUnsafeSlow(size)];
        let consumed: Promise<void> = Promise.resolve();
        for (let position = start, turn = 0; position <= end; turn ^= 1) {
          const buffer = buffers[turn]!; // its last consumer finished: awaited before the previous hand-out
          const { bytesRead } = await handle.read(buffer, 0, Math.min(size, end - position + 1), position);
          if (bytesRead === 0) throw new StorageError(this.name, key, new Error(`object ends at ${position}, before ${end + 1}`));
          await consumed;
          consumed = consume(buffer.subarray(0, bytesRead));
          consumed.catch(() => undefined); // awaited in the next turn; marked handled meanwhile
          position += bytesRead;
        }
        await consumed;
      } finally {
        this.activeReads--;
        await close();
      }
    };
    return { forEach, close };
  }

  /** A read buffer: at most READ_BUFFER_MAX, less as reads run concurrently, never more than the object. */
  private readBufferSize(length: number): number {
    const share = Math.floor(READ_BUFFERS_BUDGET / (this.activeReads + 1));
    return Math.max(1, Math.min(length, Math.max(READ_BUFFER_MIN, Math.min(READ_BUFFER_MAX, share))));
  }

  /** A write buffer limit: at most WRITE_BUFFER_MAX, less as writes run concurrently. */
  private writeBufferSize(): number {
    return Math.max(WRITE_BUFFER_MIN, Math.min(WRITE_BUFFER_MAX, Math.floor(WRITE_BUFFERS_BUDGET / (this.activeWrites + 1))));
  }

  /** Runs a streamed write with its buffer limit, counted against the budget while it runs. */
  private async budgeted<T>(write: (highWaterMark: number) => Promise<T>): Promise<T> {
    const highWaterMark = this.writeBufferSize();
    this.activeWrites++;
    try {
      return await write(highWaterMark);
    } finally {
      this.activeWrites--;
    }
  }

  async write(key: string, body: Buffer | Readable): Promise<void> {
    const target = this.path(key);
    const temp = join(dirname(target), `.tmp-${randomBytes(8).toString('hex')}`);
    try {
      await mkdir(dirname(target), { recursive: true });
      const handle = await open(temp, 'wx');
      try {
        if (Buffer.isBuffer(body)) {
          await handle.writeFile(body);
          await handle.sync();
        } else {
          // A FileHandle stream holds a ref on the handle until the stream closes: with
          // autoClose off, handle.close() would wait forever. The stream fsyncs (flush) and
          // closes the handle itself; the close below is then a no-op.
          await this.budgeted((highWaterMark) => pipeline(body, handle.createWriteStream({ flush: true, highWaterMark })));
        }
      } finally {
        await handle.close();
      }
      await rename(temp, target);
      await this.syncDir(dirname(target));
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      this.fail(key, error);
    }
  }

  async append(key: string, offset: number, body: Readable): Promise<number> {
    const path = this.path(key);
    try {
      if (offset === 0) await mkdir(dirname(path), { recursive: true });
      const handle = await open(path, offset === 0 ? 'w' : 'r+');
      try {
        if (offset > 0) {
          const { size } = await handle.stat();
          if (size < offset) throw new StorageNotFoundError(this.name, key);
          if (size > offset) await handle.truncate(offset);
        }
        // The stream closes the handle when done (see write); the close below is then a no-op.
        return await this.budgeted(async (highWaterMark) => {
          const out = handle.createWriteStream({ start: offset, highWaterMark });
          let kicked = 0;
          const writeBehind = setInterval(() => {
            if (out.bytesWritten - kicked < WRITE_BEHIND_BYTES) return;
            kicked = out.bytesWritten;
            this.flushInBackground(path);
          }, WRITE_BEHIND_CHECK_MS);
          try {
            await pipeline(body, out);
          } finally {
            clearInterval(writeBehind);
          }
          if (out.bytesWritten - kicked >= WRITE_BEHIND_MIN_BYTES) this.flushInBackground(path);
          return offset + out.bytesWritten;
        });
      } finally {
        await handle.close();
      }
    } catch (error) {
      return this.fail(key, error);
    }
  }

  async move(from: string, to: string): Promise<void> {
    const source = this.path(from);
    const target = this.path(to);
    try {
      const handle = await open(source, 'r+');
      try {
        await handle.sync(); // durable before it becomes visible
      } finally {
        await handle.close();
      }
      await this.renameInto(source, target);
      await this.syncDir(dirname(target));
    } catch (error) {
      this.fail(from, error);
    }
  }

  /** rename(2), creating the target's directory only when it is missing (the rare case: blob shard directories persist). */
  private async renameInto(source: string, target: string): Promise<void> {
    try {
      await rename(source, target);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await stat(source); // a missing source is the caller's not-found, not a directory to create
      await mkdir(dirname(target), { recursive: true });
      await rename(source, target);
    }
  }

  async delete(keyOrPrefix: string): Promise<void> {
    const path = this.path(keyOrPrefix);
    try {
      // Objects are files: one unlink, the common case (GC deletes thousands); rm -r for prefixes.
      await unlink(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EISDIR' && code !== 'EPERM') this.fail(keyOrPrefix, error);
      // A directory: empty is the common case (an upload's staging directory after its commit).
      if (await rmdir(path).then(() => true, () => false)) return;
      try {
        await rm(path, { recursive: true, force: true });
      } catch (nested) {
        this.fail(keyOrPrefix, nested);
      }
    }
  }

  /** The directory of a prefix, or undefined when it does not exist (an empty listing). */
  private async openDir(prefix: string): Promise<Dir | undefined> {
    try {
      return await opendir(this.path(prefix));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      return this.fail(prefix, error);
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    const dir = await this.openDir(prefix);
    if (!dir) return;
    for await (const entry of dir) {
      if (!entry.name.startsWith('.tmp-')) yield entry.name;
    }
  }

  async *walk(prefix: string): AsyncIterable<StorageEntry> {
    const dir = await this.openDir(prefix);
    if (!dir) return;
    for await (const entry of dir) {
      const key = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory()) {
        yield* this.walk(key);
      } else if (entry.isFile()) {
        const s = await stat(this.path(key)).catch(() => undefined);
        if (s) yield { key, size: s.size, modifiedAt: s.mtime };
      }
    }
  }

  redirectUrl(): Promise<string | null> {
    return Promise.resolve(null);
  }

  /**
   * Write-behind for staged uploads: starts writing the file's dirty pages to disk while the
   * client is still sending, on a descriptor of its own, and waits for nobody. With 24 GiB of
   * RAM the kernel would otherwise start writeback of a 256 MiB upload only when the commit's
   * fsync asks for all of it at once; now that fsync finds most of it done. Durability is still
   * the commit's fsync (move); a failure here changes nothing and is left to it to report.
   */
  private flushInBackground(path: string): void {
    if (this.flushing.has(path)) return;
    this.flushing.add(path);
    void open(path, 'r')
      .then(async (handle) => {
        try {
          await handle.datasync();
        } finally {
          await handle.close();
        }
      })
      .catch(() => undefined)
      .finally(() => this.flushing.delete(path));
  }

  private async syncDir(path: string): Promise<void> {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
