import type { Hash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDigestHash, DigestAlgorithm } from '../common/oci/digest';

interface LiveHash {
  offset: number;
  hash: Hash;
}

/**
 * Incremental sha256 of upload sessions, so that the digest is computed in the same pass as
 * the write. Node cannot serialise hash state, so the live state stays in this process;
 * when it is gone (restart, another replica, an interrupted chunk) the staged bytes are
 * re-read once to rebuild it. Bounded: the oldest idle states are dropped past `maxEntries`.
 */
export class UploadHasher {
  private readonly live = new Map<string, LiveHash>();

  constructor(private readonly maxEntries = 10_000) {}

  /** Takes (removes) the live hash of `uploadId` if it is exactly at `offset`. */
  take(uploadId: string, offset: number): Hash | undefined {
    const state = this.live.get(uploadId);
    this.live.delete(uploadId);
    return state && state.offset === offset ? state.hash : undefined;
  }

  /** Keeps the hash of `uploadId` as it stands after `offset` bytes. */
  keep(uploadId: string, offset: number, hash: Hash): void {
    this.live.set(uploadId, { offset, hash });
    if (this.live.size > this.maxEntries) this.live.delete(this.live.keys().next().value as string);
  }

  forget(uploadId: string): void {
    this.live.delete(uploadId);
  }

  /** Hashes a whole stream (re-reading staged bytes). */
  static async hashStream(algorithm: DigestAlgorithm, stream: Readable): Promise<Hash> {
    const hash = createDigestHash(algorithm);
    for await (const chunk of stream) hash.update(chunk as Buffer);
    return hash;
  }

  /**
   * A stream that feeds every chunk of `source` to `hash` on its way through, counting bytes.
   * A Transform rather than an async generator: no promise per chunk (measured: a few percent
   * of a 256 MiB push). An error of `source` (a client cutting the body off) destroys the tap
   * with it, so whoever consumes the tap sees the error; a consumer that fails destroys
   * `source` in turn.
   */
  static tap(source: Readable, hash: Hash, counter: { bytes: number }): Readable {
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        counter.bytes += chunk.length;
        done(null, chunk);
      },
    });
    pipeline(source, tap).catch(() => undefined); // reported through `tap`, see above
    return tap;
  }
}
