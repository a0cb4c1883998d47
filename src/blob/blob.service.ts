import { Inject, Injectable, Logger } from '@nestjs/common';
import { OciError } from '../common/errors/oci-error';
import type { ByteRange } from '../common/http/byte-range';
import { Digest } from '../common/oci/digest';
import type { RepositoryName } from '../common/oci/reference';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';
import type { BlobRecord } from '../metadata/stores/blob.store';
import { UnitOfWork } from '../metadata/unit-of-work';
import { StorageNotFoundError, type ChunkedRead, type StorageDriver } from '../storage/storage-driver';
import { storageKeys } from '../storage/storage-keys';
import { STORAGE_DRIVER } from '../storage/storage.tokens';
import { BlobLocks } from './blob-locks';

export interface BlobDescriptor {
  digest: Digest;
  size: number;
}

/**
 * Blob semantics: repository isolation (a repository serves only blobs linked to it),
 * streaming reads, unlink on delete, cross-repository mount, and the one way a blob comes
 * into existence — `commitStaged`, bytes first, then metadata in one transaction.
 */
@Injectable()
export class BlobService {
  private readonly logger = new Logger(BlobService.name);

  constructor(
    private readonly uow: UnitOfWork,
    @Inject(STORAGE_DRIVER) private readonly driver: StorageDriver,
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
    private readonly locks: BlobLocks,
  ) {}

  /** The blob as linked to `name`; BLOB_UNKNOWN otherwise. */
  async stat(name: RepositoryName, digest: Digest): Promise<BlobDescriptor & { refCount: number }> {
    const blob = await this.uow.stores.blobs.findLinked(name, digest);
    if (!blob) throw OciError.blobUnknown(digest);
    return { digest, size: blob.size, refCount: blob.refCount };
  }

  /**
   * HEAD: a client checking before it pushes. An existing blob is a dedup hit, and its GC
   * grace period restarts: the client will reference it instead of uploading it.
   */
  async probe(name: RepositoryName, digest: Digest): Promise<BlobDescriptor> {
    const blob = await this.stat(name, digest);
    await this.uow.run(async (stores) => {
      await stores.counters.increment('dedup_hits');
      if (blob.refCount <= 0) await stores.blobs.touch(digest, Date.now());
    });
    return { digest, size: blob.size };
  }

  async open(name: RepositoryName, digest: Digest, range?: (size: number) => ByteRange | undefined): Promise<BlobDescriptor & { body: ChunkedRead; range?: ByteRange }> {
    const blob = await this.stat(name, digest);
    const byteRange = range?.(blob.size);
    try {
      const body = await this.driver.readChunks(storageKeys.blob(digest), byteRange);
      return { digest, size: blob.size, body, range: byteRange };
    } catch (error) {
      if (error instanceof StorageNotFoundError) {
        this.logger.error(`blob ${digest} is in metadata but missing from storage`);
        throw OciError.blobUnknown(digest);
      }
      throw error;
    }
  }

  /** Unlinks the blob from this repository only; its bytes stay for others (GC decides). */
  async delete(name: RepositoryName, digest: Digest): Promise<void> {
    if (!this.config.deleteEnabled) throw OciError.deleteDisabled();
    if (!(await this.uow.stores.blobs.unlink(name, digest))) throw OciError.blobUnknown(digest);
  }

  /**
   * Links an existing blob into `name` without moving bytes: from `from` when it is linked
   * there, or (no `from`) from any repository `readable` accepts (anywhere when there is no
   * such predicate: auth off). Undefined when it cannot be
   * mounted; the caller then opens a normal upload session.
   */
  async mount(
    name: RepositoryName,
    digest: Digest,
    from: RepositoryName | undefined,
    readable?: (repository: string) => boolean,
  ): Promise<BlobDescriptor | undefined> {
    return this.uow.run(async (stores) => {
      let blob: BlobRecord | undefined;
      if (from) blob = await stores.blobs.findLinked(from, digest);
      else if (!readable || (await stores.blobs.repositoriesLinking(digest)).some(readable)) blob = await stores.blobs.find(digest);
      if (!blob) return undefined;
      const now = Date.now();
      await stores.repositories.createOrFind(name, now);
      await stores.blobs.link(name, digest, now);
      await stores.counters.increment('dedup_hits');
      if (blob.refCount <= 0) await stores.blobs.touch(digest, now);
      return { digest, size: blob.size };
    });
  }

  /**
   * Turns verified staged bytes into a blob of `name`. Bytes first: the staging object is
   * fsync'd and renamed to its content address (or dropped when that blob is already
   * stored: the dedup hit). Then one transaction records the blob, links it, counts the hit
   * or miss and ends the upload session. A crash between the two leaves an unreferenced
   * file that GC removes, never a row without bytes.
   */
  async commitStaged(name: RepositoryName, stagingKey: string, digest: Digest, size: number, uploadId?: string): Promise<BlobDescriptor> {
    const target = storageKeys.blob(digest);
    await this.locks.run(digest, async () => {
      const existing = await this.driver.stat(target);
      if (existing && existing.size === size) {
        await this.driver.delete(stagingKey);
      } else {
        await this.driver.move(stagingKey, target);
      }
      await this.uow.run(async (stores) => {
        const now = Date.now();
        const created = await stores.blobs.createOrFind(digest, size, now);
        if (!created) await stores.blobs.touch(digest, now);
        await stores.repositories.createOrFind(name, now);
        await stores.blobs.link(name, digest, now);
        await stores.counters.increment(created ? 'dedup_misses' : 'dedup_hits');
        if (uploadId) await stores.uploads.delete(uploadId);
      });
    });
    return { digest, size };
  }

}
