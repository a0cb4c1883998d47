import { sql, type Selectable } from 'kysely';
import type { Database } from '../schema';
import type { Executor } from './executor';
import { QueryTemplate } from './query-template';

export interface ManifestRecord {
  repository: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  subjectDigest: string | null;
  annotations: Record<string, string> | null;
  size: number;
}

export interface ManifestWithPayload extends ManifestRecord {
  payload: Buffer;
}

export interface ManifestReferences {
  blobs: string[];
  manifests: string[];
}

/** Manifests (exact bytes), what they reference, and their referrers. */
export interface ManifestStore {
  find(repository: string, digest: string): Promise<ManifestWithPayload | undefined>;
  /** The manifest a tag points to, in one query. */
  findByTag(repository: string, tag: string): Promise<ManifestWithPayload | undefined>;
  exists(repository: string, digest: string): Promise<boolean>;
  /** Of `digests`, the manifests present in `repository`. */
  existingAmong(repository: string, digests: string[]): Promise<Set<string>>;
  /** Inserts the manifest and its references; false (and nothing written) when it already exists. */
  create(manifest: ManifestWithPayload, refs: ManifestReferences, now: number): Promise<boolean>;
  /** What a stored manifest references: blobs and child manifests. */
  references(repository: string, digest: string): Promise<ManifestReferences>;
  /** Deletes the manifest and its reference rows; true when it existed. */
  delete(repository: string, digest: string): Promise<boolean>;
  /** Manifests of `repository` whose subject is `subject`, oldest first. */
  listReferrers(repository: string, subject: string): Promise<ManifestRecord[]>;
  /**
   * Re-evaluates `unreferenced_since` of the given manifests after their tags or parents
   * changed: null while a tag points at one or an index of the repository lists it, else
   * the time it became unreferenced (kept if it already was).
   */
  refreshUnreferenced(repository: string, digests: string[], now: number): Promise<void>;
  /**
   * Restarts the GC clock of the untagged referrers of `subject` (its deletion is what makes
   * them collectable, so their grace period counts from now, not from their own push).
   */
  restartReferrersClock(repository: string, subject: string, now: number): Promise<void>;
}

const COLUMNS = ['repository', 'digest', 'media_type', 'artifact_type', 'subject_digest', 'annotations', 'size'] as const;
type Row = Pick<Selectable<Database['manifests']>, (typeof COLUMNS)[number]>;

function toRecord(row: Row): ManifestRecord {
  return {
    repository: row.repository,
    digest: row.digest,
    mediaType: row.media_type,
    artifactType: row.artifact_type,
    subjectDigest: row.subject_digest,
    annotations: row.annotations === null ? null : (JSON.parse(row.annotations) as Record<string, string>),
    size: Number(row.size),
  };
}

const FIND = new QueryTemplate((db, repository: string, digest: string) =>
  db.selectFrom('manifests').select([...COLUMNS, 'payload']).where('repository', '=', repository).where('digest', '=', digest),
);

const FIND_BY_TAG = new QueryTemplate((db, repository: string, tag: string) =>
  db
    .selectFrom('tags as t')
    .innerJoin('manifests as m', (j) => j.onRef('m.repository', '=', 't.repository').onRef('m.digest', '=', 't.digest'))
    .select(['m.repository', 'm.digest', 'm.media_type', 'm.artifact_type', 'm.subject_digest', 'm.annotations', 'm.size', 'm.payload'])
    .where('t.repository', '=', repository)
    .where('t.name', '=', tag),
);

export class KyselyManifestStore implements ManifestStore {
  constructor(private readonly db: Executor) {}

  async find(repository: string, digest: string): Promise<ManifestWithPayload | undefined> {
    const row = await FIND.executeTakeFirst(this.db, repository, digest);
    return row && { ...toRecord(row), payload: Buffer.from(row.payload) };
  }

  async findByTag(repository: string, tag: string): Promise<ManifestWithPayload | undefined> {
    const row = await FIND_BY_TAG.executeTakeFirst(this.db, repository, tag);
    return row && { ...toRecord(row), payload: Buffer.from(row.payload) };
  }

  async exists(repository: string, digest: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('manifests')
      .select('digest')
      .where('repository', '=', repository)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row !== undefined;
  }

  async existingAmong(repository: string, digests: string[]): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    const rows = await this.db
      .selectFrom('manifests')
      .select('digest')
      .where('repository', '=', repository)
      .where('digest', 'in', digests)
      .execute();
    return new Set(rows.map((r) => r.digest));
  }

  async create(m: ManifestWithPayload, refs: ManifestReferences, now: number): Promise<boolean> {
    const result = await this.db
      .insertInto('manifests')
      .values({
        repository: m.repository,
        digest: m.digest,
        media_type: m.mediaType,
        artifact_type: m.artifactType,
        subject_digest: m.subjectDigest,
        annotations: m.annotations === null ? null : JSON.stringify(m.annotations),
        size: m.size,
        payload: m.payload,
        created_at: now,
      })
      .onConflict((oc) => oc.columns(['repository', 'digest']).doNothing())
      .executeTakeFirst();
    if (Number(result.numInsertedOrUpdatedRows ?? 0) === 0) return false;
    const rows = [
      ...refs.blobs.map((d) => ({ repository: m.repository, manifest_digest: m.digest, child_digest: d, child_kind: 'blob' as const })),
      ...refs.manifests.map((d) => ({ repository: m.repository, manifest_digest: m.digest, child_digest: d, child_kind: 'manifest' as const })),
    ];
    for (let i = 0; i < rows.length; i += 500) {
      await this.db.insertInto('manifest_refs').values(rows.slice(i, i + 500)).onConflict((oc) => oc.doNothing()).execute();
    }
    return true;
  }

  async references(repository: string, digest: string): Promise<ManifestReferences> {
    const rows = await this.db
      .selectFrom('manifest_refs')
      .select(['child_digest', 'child_kind'])
      .where('repository', '=', repository)
      .where('manifest_digest', '=', digest)
      .execute();
    return {
      blobs: rows.filter((r) => r.child_kind === 'blob').map((r) => r.child_digest),
      manifests: rows.filter((r) => r.child_kind === 'manifest').map((r) => r.child_digest),
    };
  }


  async delete(repository: string, digest: string): Promise<boolean> {
    await this.db.deleteFrom('manifest_refs').where('repository', '=', repository).where('manifest_digest', '=', digest).execute();
    const result = await this.db.deleteFrom('manifests').where('repository', '=', repository).where('digest', '=', digest).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async listReferrers(repository: string, subject: string): Promise<ManifestRecord[]> {
    const rows = await this.db
      .selectFrom('manifests')
      .select(COLUMNS)
      .where('repository', '=', repository)
      .where('subject_digest', '=', subject)
      .orderBy('created_at')
      .orderBy('digest')
      .execute();
    return rows.map(toRecord);
  }

  async refreshUnreferenced(repository: string, digests: string[], now: number): Promise<void> {
    if (digests.length === 0) return;
    await this.db
      .updateTable('manifests as m')
      .set({
        unreferenced_since: sql<number | null>`case when exists (select 1 from tags t where t.repository = m.repository and t.digest = m.digest)
          or exists (select 1 from manifest_refs r where r.repository = m.repository and r.child_kind = 'manifest' and r.child_digest = m.digest)
          then null else coalesce(m.unreferenced_since, ${now}) end`,
      })
      .where('m.repository', '=', repository)
      .where('m.digest', 'in', digests)
      .execute();
  }

  async restartReferrersClock(repository: string, subject: string, now: number): Promise<void> {
    await this.db
      .updateTable('manifests')
      .set({ unreferenced_since: now })
      .where('repository', '=', repository)
      .where('subject_digest', '=', subject)
      .where('unreferenced_since', 'is not', null)
      .execute();
  }
}
