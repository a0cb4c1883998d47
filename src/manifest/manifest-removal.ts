import type { Stores } from '../metadata/unit-of-work';

/**
 * Deletes a manifest with all its bookkeeping, inside the caller's transaction: its reference
 * rows, its tags, the reference counts of its blobs (which may become GC candidates) and the
 * unreferenced state of its child manifests and the GC clock of its referrers. Used by DELETE and by GC, so both keep the
 * counts the same way. False when the manifest did not exist.
 */
export async function removeManifest(stores: Stores, repository: string, digest: string, now: number): Promise<boolean> {
  const refs = await stores.manifests.references(repository, digest);
  if (!(await stores.manifests.delete(repository, digest))) return false;
  await stores.tags.deleteForManifest(repository, digest);
  await stores.blobs.adjustRefCounts(refs.blobs, -1, now);
  await stores.manifests.refreshUnreferenced(repository, refs.manifests, now);
  await stores.manifests.restartReferrersClock(repository, digest, now);
  return true;
}
