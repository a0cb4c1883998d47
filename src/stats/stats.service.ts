import { Injectable } from '@nestjs/common';
import { UnitOfWork } from '../metadata/unit-of-work';

export interface RegistryStats {
  repositories: number;
  images: number;
  layers: { layers: number; totalSize: number; cacheHits: number; cacheMisses: number; hitRate: number };
  repositoryDetails: { name: string; tags: number; imageCount: number; totalSize: number; lastPush: string | null }[];
  uploads: { active: number };
  /** Bytes all repositories reference (a shared blob counted per repository) vs bytes stored once. */
  dedup: { referencedBytes: number; storedBytes: number; savedBytes: number; ratio: number };
}

/** /_stats from maintained counters and indexed aggregates, never a walk of the storage. */
@Injectable()
export class StatsService {
  constructor(private readonly uow: UnitOfWork) {}

  async stats(): Promise<RegistryStats> {
    const stores = this.uow.stores;
    const [totals, repositories, hits, misses] = await Promise.all([
      stores.stats.totals(),
      stores.stats.repositories(),
      stores.counters.get('dedup_hits'),
      stores.counters.get('dedup_misses'),
    ]);
    return {
      repositories: totals.repositories,
      images: totals.manifests,
      layers: {
        layers: totals.blobs,
        totalSize: totals.storedBytes,
        cacheHits: hits,
        cacheMisses: misses,
        hitRate: hits + misses === 0 ? 0 : hits / (hits + misses),
      },
      repositoryDetails: repositories.map((r) => ({ ...r, lastPush: r.lastPush === null ? null : new Date(r.lastPush).toISOString() })),
      uploads: { active: totals.activeUploads },
      dedup: {
        referencedBytes: totals.linkedBytes,
        storedBytes: totals.storedBytes,
        savedBytes: Math.max(0, totals.linkedBytes - totals.storedBytes),
        ratio: totals.storedBytes === 0 ? 1 : totals.linkedBytes / totals.storedBytes,
      },
    };
  }
}
