import { Inject, Injectable } from '@nestjs/common';
import { randomUUID, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BlobDescriptor, BlobService } from '../blob/blob.service';
import { SHARED_LOCKS } from '../cluster/cluster.module';
import type { SharedLocks } from '../cluster/shared-locks';
import { OciError } from '../common/errors/oci-error';
import { publicLocation } from '../common/http/urls';
import type { ByteRange } from '../common/http/byte-range';
import { createDigestHash, Digest, digestAlgorithm } from '../common/oci/digest';
import type { RepositoryName } from '../common/oci/reference';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';
import type { UploadRecord } from '../metadata/stores/upload.store';
import { MetricsService } from '../metrics/metrics.service';
import { UnitOfWork } from '../metadata/unit-of-work';
import { StorageNotFoundError, type StorageDriver } from '../storage/storage-driver';
import { storageKeys } from '../storage/storage-keys';
import { STORAGE_DRIVER } from '../storage/storage.tokens';
import { UploadHasher } from './upload-hasher';

const sessionLock = (id: string): string => `upload:${id}`;

export interface UploadSession {
  id: string;
  name: RepositoryName;
  /** Bytes received so far. */
  offset: number;
}

/**
 * Upload sessions (POST / PATCH / PUT / GET / DELETE on blobs/uploads). The session row is
 * durable, the bytes are staged in storage under uploads/<id>/, so an upload resumes across
 * requests and restarts. Requests of one session are serialised across the workers of this process and the
 * offset only advances through a compare-and-set, so a chunk either lands whole or not at
 * all: a failed or cut-off chunk leaves the session at its previous offset.
 */
@Injectable()
export class UploadService {
  private readonly hasher = new UploadHasher();

  constructor(
    private readonly uow: UnitOfWork,
    private readonly blobs: BlobService,
    @Inject(STORAGE_DRIVER) private readonly driver: StorageDriver,
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
    private readonly metrics: MetricsService,
    @Inject(SHARED_LOCKS) private readonly locks: SharedLocks,
  ) {}

  async start(name: RepositoryName): Promise<UploadSession> {
    const now = Date.now();
    const id = randomUUID();
    // Soft state (see UnitOptions): a session lost to a power cut makes the client start over.
    await this.uow.run((stores) => stores.uploads.create({ id, repository: name, offset: 0, startedAt: now, updatedAt: now }), { durable: false });
    return { id, name, offset: 0 };
  }

  /** POST ?digest=: the whole blob in one request, verified and committed (201). */
  async uploadMonolithic(name: RepositoryName, digest: Digest, body: Readable): Promise<BlobDescriptor> {
    const id = randomUUID();
    const key = storageKeys.uploadData(id);
    const hash = createDigestHash(digestAlgorithm(digest));
    const counter = { bytes: 0 };
    // Under the session lock like any upload, so GC's purge never takes its staging dir.
    return this.exclusive(id, async () => {
      try {
        await this.driver.append(key, 0, UploadHasher.tap(body, hash, counter));
        this.metrics.bytesPushed(counter.bytes);
        const actual = `${digestAlgorithm(digest)}:${hash.digest('hex')}`;
        if (actual !== digest) throw OciError.digestInvalid({ expected: digest, actual });
        return await this.blobs.commitStaged(name, key, digest, counter.bytes);
      } finally {
        await this.driver.delete(storageKeys.uploadDir(id));
      }
    });
  }

  /** The session, if it belongs to `name` and has not expired; BLOB_UPLOAD_UNKNOWN otherwise. */
  async get(name: RepositoryName, id: string): Promise<UploadSession> {
    const record = await this.find(name, id);
    return { id, name, offset: record.offset };
  }

  /**
   * PATCH: appends one chunk. With a Content-Range, the chunk must start exactly at the
   * current offset (else 416 with the current Range) and carry exactly the bytes it
   * declares; without one (streamed PATCH), it is appended at the current offset.
   */
  async appendChunk(name: RepositoryName, id: string, body: Readable, range?: ByteRange): Promise<UploadSession> {
    return this.exclusive(id, async () => {
      const record = await this.find(name, id);
      if (range && range.start !== record.offset) {
        throw OciError.chunkOutOfOrder(id, this.progressHeaders(name, id, record.offset));
      }
      const received = await this.append(record, body);
      if (range && received !== range.end - range.start + 1) {
        this.hasher.forget(id);
        throw new OciError('SIZE_INVALID', { declared: range.end - range.start + 1, received });
      }
      return this.advance(record, received);
    });
  }

  /**
   * PUT ?digest=: appends the optional last chunk, verifies the digest of the whole upload
   * and commits the blob. A mismatch is DIGEST_INVALID and the session is discarded:
   * nothing is stored.
   */
  async complete(name: RepositoryName, id: string, digest: Digest, body: Readable, range?: ByteRange): Promise<BlobDescriptor> {
    return this.exclusive(id, async () => {
      const record = await this.find(name, id);
      if (range && range.start !== record.offset) {
        throw OciError.chunkOutOfOrder(id, this.progressHeaders(name, id, record.offset));
      }
      const received = await this.append(record, body);
      const size = record.offset + received;
      const actual = await this.digestOf(record.id, size, digestAlgorithm(digest));
      if (actual !== digest) {
        await this.discard(id);
        throw OciError.digestInvalid({ expected: digest, actual });
      }
      const blob = await this.blobs.commitStaged(name, storageKeys.uploadData(id), digest, size, id);
      // The staged file was moved (or dropped); its now empty directory goes with the session,
      // or GC would later count it as an expired upload.
      await this.driver.delete(storageKeys.uploadDir(id));
      return blob;
    });
  }

  async cancel(name: RepositoryName, id: string): Promise<void> {
    await this.exclusive(id, async () => {
      await this.find(name, id);
      await this.discard(id);
    });
  }

  /**
   * Ends sessions idle for longer than the upload timeout, with their staged bytes, and
   * staging directories that no session owns any more (a crash mid-request). Each session
   * is re-checked under its lock, so a chunk in flight is never cut from under a client.
   * Returns how many sessions or orphan directories were removed.
   */
  async purgeExpired(limit = 1000): Promise<number> {
    const cutoff = Date.now() - this.config.uploadTimeoutMs;
    let purged = 0;
    for (const idle of await this.uow.stores.uploads.listIdleSince(cutoff, limit)) {
      const removed = await this.exclusive(idle.id, async () => {
        const current = await this.uow.stores.uploads.find(idle.id);
        if (!current || current.updatedAt >= cutoff) return false;
        await this.discard(idle.id);
        return true;
      });
      if (removed) purged++;
    }
    for await (const id of this.driver.list(storageKeys.uploadsRoot)) {
      if ((await this.locks.isLocked(sessionLock(id))) || (await this.uow.stores.uploads.find(id))) continue;
      const data = await this.driver.stat(storageKeys.uploadData(id));
      if (data && data.modifiedAt.getTime() >= cutoff) continue; // a monolithic upload in flight
      await this.driver.delete(storageKeys.uploadDir(id));
      purged++;
    }
    return purged;
  }

  /** Headers every upload-progress answer carries (Location, Range, Docker-Upload-UUID). */
  progressHeaders(name: RepositoryName, id: string, offset: number): Record<string, string> {
    const path = `/v2/${name}/blobs/uploads/${id}`;
    return {
      Location: publicLocation(this.config, path),
      Range: `0-${Math.max(0, offset - 1)}`,
      'Docker-Upload-UUID': id,
    };
  }

  private async find(name: RepositoryName, id: string): Promise<UploadRecord> {
    const record = await this.uow.stores.uploads.find(id);
    if (!record || record.repository !== name) throw OciError.uploadUnknown(id);
    if (record.updatedAt < Date.now() - this.config.uploadTimeoutMs) {
      await this.discard(id);
      throw OciError.uploadUnknown(id);
    }
    return record;
  }

  /** Appends `body` at the session's offset, hashing in the same pass; returns the bytes received. */
  private async append(record: UploadRecord, body: Readable): Promise<number> {
    const hash = this.hasher.take(record.id, record.offset) ?? (await this.rehash(record.id, record.offset, 'sha256'));
    const counter = { bytes: 0 };
    try {
      await this.driver.append(storageKeys.uploadData(record.id), record.offset, UploadHasher.tap(body, hash, counter));
    } catch (error) {
      if (error instanceof StorageNotFoundError) {
        // The staged bytes are gone (storage wiped under a live session): it cannot resume.
        await this.discard(record.id);
        throw OciError.uploadUnknown(record.id);
      }
      throw error;
    }
    this.metrics.bytesPushed(counter.bytes);
    this.hasher.keep(record.id, record.offset + counter.bytes, hash);
    return counter.bytes;
  }

  private async advance(record: UploadRecord, received: number): Promise<UploadSession> {
    const offset = record.offset + received;
    // Soft state like the staged bytes it counts, which are fsync'd only when the blob commits.
    const advanced = await this.uow.run((stores) => stores.uploads.updateProgress(record.id, record.offset, offset, Date.now()), { durable: false });
    if (!advanced) {
      this.hasher.forget(record.id);
      throw OciError.uploadUnknown(record.id); // cancelled or expired meanwhile
    }
    return { id: record.id, name: record.repository as RepositoryName, offset };
  }

  private async digestOf(id: string, size: number, algorithm: 'sha256' | 'sha512'): Promise<string> {
    const hash = algorithm === 'sha256' ? (this.hasher.take(id, size) ?? (await this.rehash(id, size, algorithm))) : await this.rehash(id, size, algorithm);
    return `${algorithm}:${hash.digest('hex')}`;
  }

  /** Rebuilds a hash from the first `length` staged bytes. */
  private async rehash(id: string, length: number, algorithm: 'sha256' | 'sha512'): Promise<Hash> {
    if (length === 0) return createDigestHash(algorithm);
    try {
      return await UploadHasher.hashStream(algorithm, await this.driver.read(storageKeys.uploadData(id), { start: 0, end: length - 1 }));
    } catch (error) {
      if (error instanceof StorageNotFoundError) {
        await this.discard(id);
        throw OciError.uploadUnknown(id);
      }
      throw error;
    }
  }

  private async discard(id: string): Promise<void> {
    this.hasher.forget(id);
    await this.uow.stores.uploads.delete(id);
    await this.driver.delete(storageKeys.uploadDir(id));
  }

  /** Runs `work` with no other request of the same session in flight, in any worker of this process. */
  private exclusive<T>(id: string, work: () => Promise<T>): Promise<T> {
    return this.locks.run(sessionLock(id), work);
  }
}
