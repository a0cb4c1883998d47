import { Inject, Injectable } from '@nestjs/common';
import { BoundedCache } from '../common/bounded-cache';
import { OciError } from '../common/errors/oci-error';
import { digestOf, Digest, digestAlgorithm, isDigestLike, parseDigest } from '../common/oci/digest';
import { MediaTypes, isIndexMediaType } from '../common/oci/media-types';
import { ManifestReference, parseTag, RepositoryName, Tag } from '../common/oci/reference';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';
import type { ManifestRecord, ManifestWithPayload } from '../metadata/stores/manifest.store';
import { UnitOfWork, type Stores } from '../metadata/unit-of-work';
import { Descriptor, parseDescriptor, parseManifest } from './manifest-parser';
import { removeManifest } from './manifest-removal';

export interface StoredManifest {
  digest: string;
  mediaType: string;
  size: number;
  payload: Buffer;
}

export interface PutResult {
  digest: Digest;
  subject?: string;
  tags: Tag[];
}

export interface ReferrersResult {
  index: { schemaVersion: 2; mediaType: string; manifests: Descriptor[] };
  filtered: boolean;
}

export interface TagPage {
  readonly tags: readonly string[];
  readonly more: boolean;
}

/** Tag pages kept: this many (repository, n, last) pages of at most MAX_LIST_PAGE names (a few MB at worst). */
const TAG_PAGE_CACHE_SIZE = 64;

/** Most entries a list endpoint returns without an `n` (then a Link header points on). */
export const MAX_LIST_PAGE = 10_000;

/**
 * Manifests, tags, referrers and the catalog. Manifest bytes are stored exactly as received
 * and their digest is computed over those bytes; every write that touches more than one row
 * (manifest + references + reference counts + tags) is one transaction, and the references
 * are checked inside it.
 */
@Injectable()
export class ManifestService {
  /** Recently listed tag pages (by repository, n and last), with the tags state they were read at. */
  private readonly tagPages = new BoundedCache<string, { state: string; page: TagPage }>(TAG_PAGE_CACHE_SIZE);

  constructor(
    private readonly uow: UnitOfWork,
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
  ) {}

  async get(name: RepositoryName, reference: ManifestReference): Promise<StoredManifest> {
    const stores = this.uow.stores;
    const manifest =
      reference.kind === 'tag' ? await stores.manifests.findByTag(name, reference.value) : await stores.manifests.find(name, reference.value);
    if (!manifest) {
      if (!(await stores.repositories.exists(name))) throw OciError.nameUnknown(name);
      throw OciError.manifestUnknown(reference.value);
    }
    return { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.size, payload: manifest.payload };
  }

  /**
   * PUT /manifests/<reference>[?tag=…]: validates, stores and tags. By digest, the body must
   * hash to that digest. Every blob a manifest references must be linked to this repository
   * and every child of an index present in it (MANIFEST_BLOB_UNKNOWN), except the subject,
   * which may not exist yet.
   */
  async put(name: RepositoryName, reference: ManifestReference, contentType: string | undefined, payload: Buffer, extraTags: string[]): Promise<PutResult> {
    let digest: Digest;
    if (reference.kind === 'digest') {
      const expected = parseDigest(reference.value);
      digest = digestOf(payload, digestAlgorithm(expected));
      if (digest !== expected) throw OciError.digestInvalid({ expected, actual: digest }, 'manifest body does not match the digest in the URL');
    } else {
      digest = digestOf(payload);
    }
    const tags = [...new Set([...(reference.kind === 'tag' ? [reference.value] : []), ...extraTags.map(parseTag)])];
    const parsed = parseManifest(payload, contentType);

    await this.uow.run(async (stores) => {
      const now = Date.now();
      await this.checkReferences(stores, name, parsed.requiredBlobs, parsed.childManifests);
      await stores.repositories.createOrFind(name, now);
      const record: ManifestWithPayload = {
        repository: name,
        digest,
        mediaType: parsed.mediaType,
        artifactType: parsed.artifactType,
        subjectDigest: parsed.subject?.digest ?? null,
        annotations: parsed.annotations,
        size: payload.length,
        payload,
      };
      const blobRefs = [...parsed.requiredBlobs, ...parsed.foreignBlobs.filter((d) => !parsed.requiredBlobs.includes(d))];
      const created = await stores.manifests.create(record, { blobs: blobRefs, manifests: parsed.childManifests }, now);
      // The same set is decremented on delete (references().blobs): counts never drift.
      if (created) await stores.blobs.adjustRefCounts(blobRefs, 1, now);
      const retagged: string[] = [];
      for (const tag of tags) {
        const previous = await stores.tags.resolve(name, tag);
        if (previous !== undefined && previous !== digest) retagged.push(previous);
        await stores.tags.upsert(name, tag, digest, now);
      }
      // GC bookkeeping: this manifest, its children and any manifest a tag moved away from.
      await stores.manifests.refreshUnreferenced(name, [digest, ...parsed.childManifests, ...retagged], now);
    });
    return { digest, subject: parsed.subject?.digest, tags };
  }

  private async checkReferences(stores: Stores, name: string, blobs: string[], children: string[]): Promise<void> {
    const linked = await stores.blobs.linkedAmong(name, blobs);
    const missingBlob = blobs.find((d) => !linked.has(d));
    if (missingBlob) throw OciError.manifestBlobUnknown(missingBlob);
    const present = await stores.manifests.existingAmong(name, children);
    const missingChild = children.find((d) => !present.has(d));
    if (missingChild) throw OciError.manifestBlobUnknown(missingChild);
  }

  /** By digest: the manifest and every tag pointing at it. By tag: that tag only. */
  async delete(name: RepositoryName, reference: ManifestReference): Promise<void> {
    if (!this.config.deleteEnabled) throw OciError.deleteDisabled();
    const deleted = await this.uow.run(async (stores) => {
      const now = Date.now();
      if (reference.kind === 'tag') {
        const digest = await stores.tags.resolve(name, reference.value);
        if (digest === undefined) return false;
        await stores.tags.delete(name, reference.value);
        await stores.manifests.refreshUnreferenced(name, [digest], now);
        return true;
      }
      return removeManifest(stores, name, reference.value, now);
    });
    if (!deleted) throw OciError.manifestUnknown(reference.value);
  }

  /**
   * A page of tags. Pages are cached with the repository's tags state they were read at
   * (one indexed row, read anyway to tell an unknown repository): a page is served from the
   * cache only while no tag of the repository changed since, in this process or any other.
   */
  async listTags(name: RepositoryName, n: number | undefined, last: string | undefined): Promise<TagPage> {
    const stores = this.uow.stores;
    const state = await stores.repositories.tagsState(name);
    if (state === undefined) throw OciError.nameUnknown(name);
    const limit = n ?? MAX_LIST_PAGE;
    if (limit === 0) return { tags: [], more: false };
    const key = `${name}\n${limit}\n${last ?? ''}`;
    const cached = this.tagPages.get(key);
    if (cached?.state === state) return cached.page;
    const rows = await stores.tags.list(name, last, limit + 1);
    const page: TagPage = { tags: rows.slice(0, limit), more: rows.length > limit };
    this.tagPages.set(key, { state, page });
    return page;
  }

  /**
   * One page of repository names after `last`, keeping only those `visible` accepts (the
   * caller's pull rights). Reads the name index in batches until the page is full.
   */
  async listRepositories(
    n: number | undefined,
    last: string | undefined,
    visible: (repository: string) => boolean = () => true,
  ): Promise<{ repositories: string[]; more: boolean }> {
    const limit = n ?? MAX_LIST_PAGE;
    if (limit === 0) return { repositories: [], more: false };
    const page: string[] = [];
    const batch = Math.max(limit + 1, 500);
    for (let after = last; ; ) {
      const rows = await this.uow.stores.repositories.list(after, batch);
      for (const name of rows) {
        if (!visible(name)) continue;
        if (page.length === limit) return { repositories: page, more: true };
        page.push(name);
      }
      if (rows.length < batch) return { repositories: page, more: false };
      after = rows[rows.length - 1];
    }
  }

  /**
   * The referrers of `subject` in `name` as an image index (never 404: an unknown subject
   * has an empty list), plus manifests listed in the `sha256-<hex>` fallback tag that
   * clients without referrers support maintain.
   */
  async referrers(name: RepositoryName, subjectRef: string, artifactType: string | undefined): Promise<ReferrersResult> {
    if (!isDigestLike(subjectRef)) throw OciError.digestInvalid({ digest: subjectRef }, 'invalid digest');
    const subject = parseDigest(subjectRef);
    const stores = this.uow.stores;
    const rows = await stores.manifests.listReferrers(name, subject);
    const entries: Descriptor[] = rows.map(toReferrer);
    const seen = new Set(entries.map((e) => e.digest));
    const fallback = await stores.manifests.findByTag(name, subject.replace(':', '-'));
    if (fallback && isIndexMediaType(fallback.mediaType)) {
      for (const entry of fallbackEntries(fallback.payload)) {
        if (!seen.has(entry.digest)) {
          seen.add(entry.digest);
          entries.push(entry);
        }
      }
    }
    const manifests = artifactType === undefined ? entries : entries.filter((e) => e.artifactType === artifactType);
    return { index: { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests }, filtered: artifactType !== undefined };
  }
}

function toReferrer(m: ManifestRecord): Descriptor {
  const entry: Descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.size };
  if (m.artifactType) entry.artifactType = m.artifactType;
  if (m.annotations) entry.annotations = m.annotations;
  return entry;
}

function fallbackEntries(payload: Buffer): Descriptor[] {
  try {
    const index = JSON.parse(payload.toString('utf8')) as { manifests?: unknown[] };
    return (index.manifests ?? []).flatMap((d, i) => {
      try {
        return [parseDescriptor(d, `manifests[${i}]`)];
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}
