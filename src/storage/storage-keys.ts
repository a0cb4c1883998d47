/**
 * The storage layout, in one place. Repositories, manifests and tags live only in metadata;
 * storage holds content-addressed blobs and the staging files of upload sessions:
 *
 *   <root>/
 *     blobs/<algorithm>/<first 2 hex>/<hex>     one file per blob, whatever the repositories
 *     uploads/<upload id>/data                  staging bytes of one upload session
 *     probes/<uuid>                             readiness probe writes (deleted right away)
 *
 * A blob file appears only by an atomic rename of a fully written, fsync'd, verified
 * staging file, so a blob path is either absent or complete.
 */
import { Digest, digestAlgorithm, digestHex } from '../common/oci/digest';

export const storageKeys = {
  blobsRoot: 'blobs',
  uploadsRoot: 'uploads',
  blob: (digest: Digest): string => {
    const hex = digestHex(digest);
    return `blobs/${digestAlgorithm(digest)}/${hex.slice(0, 2)}/${hex}`;
  },
  uploadDir: (uploadId: string): string => `uploads/${uploadId}`,
  uploadData: (uploadId: string): string => `uploads/${uploadId}/data`,
  probe: (id: string): string => `probes/${id}`,
} as const;
