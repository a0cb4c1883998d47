import { sql } from 'kysely';
import type { Executor } from './executor';

export interface RepositoryStats {
  name: string;
  tags: number;
  imageCount: number;
  totalSize: number;
  lastPush: number | null;
}

export interface RegistryTotals {
  repositories: number;
  manifests: number;
  blobs: number;
  storedBytes: number;
  /** Bytes every repository references, counting a shared blob once per repository. */
  linkedBytes: number;
  activeUploads: number;
}

/** Aggregates for /_stats, from indexed tables (never a storage walk). */
export interface StatsStore {
  totals(): Promise<RegistryTotals>;
  repositories(): Promise<RepositoryStats[]>;
}

export class KyselyStatsStore implements StatsStore {
  constructor(private readonly db: Executor) {}

  async totals(): Promise<RegistryTotals> {
    const n = sql<number>`count(*)`.as('n');
    const [repositories, manifests, uploads, blobs, linked] = await Promise.all([
      this.db.selectFrom('repositories').select(n).executeTakeFirstOrThrow(),
      this.db.selectFrom('manifests').select(n).executeTakeFirstOrThrow(),
      this.db.selectFrom('uploads').select(n).executeTakeFirstOrThrow(),
      this.db.selectFrom('blobs').select([sql<number>`count(*)`.as('n'), sql<number>`coalesce(sum(size), 0)`.as('bytes')]).executeTakeFirstOrThrow(),
      this.db
        .selectFrom('repository_blobs as rb')
        .innerJoin('blobs as b', 'b.digest', 'rb.digest')
        .select(sql<number>`coalesce(sum(b.size), 0)`.as('bytes'))
        .executeTakeFirstOrThrow(),
    ]);
    return {
      repositories: Number(repositories.n),
      manifests: Number(manifests.n),
      blobs: Number(blobs.n),
      storedBytes: Number(blobs.bytes),
      linkedBytes: Number(linked.bytes),
      activeUploads: Number(uploads.n),
    };
  }

  async repositories(): Promise<RepositoryStats[]> {
    const rows = await this.db
      .selectFrom('repositories as r')
      .select([
        'r.name',
        sql<number>`(select count(*) from tags t where t.repository = r.name)`.as('tags'),
        sql<number>`(select count(*) from manifests m where m.repository = r.name)`.as('images'),
        sql<number>`(select coalesce(sum(b.size), 0) from repository_blobs rb join blobs b on b.digest = rb.digest where rb.repository = r.name)`.as('size'),
        sql<number | null>`(select max(m.created_at) from manifests m where m.repository = r.name)`.as('last_manifest'),
        sql<number | null>`(select max(t.updated_at) from tags t where t.repository = r.name)`.as('last_tag'),
      ])
      .orderBy('r.name')
      .execute();
    return rows.map((r) => {
      const pushes = [r.last_manifest, r.last_tag].filter((v): v is number => v !== null).map(Number);
      return {
        name: r.name,
        tags: Number(r.tags),
        imageCount: Number(r.images),
        totalSize: Number(r.size),
        lastPush: pushes.length > 0 ? Math.max(...pushes) : null,
      };
    });
  }
}
