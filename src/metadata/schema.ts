import type { Generated } from 'kysely';

/**
 * The metadata schema, shared by every SQL dialect. Times are epoch milliseconds (bigint),
 * sizes are bytes. Repository membership, manifests and tags live only here; storage holds
 * bytes by digest.
 */
export interface Database {
  repositories: {
    name: string;
    created_at: number;
    /** Bumped with every change to the repository's tags (cache validation of tag lists). */
    tags_version: Generated<number>;
  };
  /** One row per stored blob, whatever the number of repositories that link it. */
  blobs: {
    digest: string;
    size: number;
    /** Number of manifests (in any repository) that reference this blob. */
    ref_count: Generated<number>;
    /** Set when ref_count is 0 (since upload or since the last reference went); GC's clock. */
    unreferenced_since: number | null;
    created_at: number;
  };
  /** A repository may serve a blob only when linked to it (pushed, mounted or referenced there). */
  repository_blobs: { repository: string; digest: string; created_at: number };
  manifests: {
    repository: string;
    digest: string;
    media_type: string;
    artifact_type: string | null;
    subject_digest: string | null;
    /** JSON of the manifest's annotations, copied into referrers entries. */
    annotations: string | null;
    size: number;
    /** The exact bytes received; served back as they are. */
    payload: Buffer;
    created_at: number;
    /** Set while no tag points at it and no index lists it; null otherwise. */
    unreferenced_since: number | null;
  };
  /** What a manifest references: blobs (config, layers, …) and child manifests (index entries). */
  manifest_refs: { repository: string; manifest_digest: string; child_digest: string; child_kind: 'blob' | 'manifest' };
  tags: { repository: string; name: string; digest: string; updated_at: number };
  uploads: { id: string; repository: string; offset: number; started_at: number; updated_at: number };
  /** Named counters (dedup hits and misses). */
  counters: { name: string; value: number };
  /** Blob contents whose metadata GC deleted; removed from storage, then from here. */
  gc_pending_deletes: { digest: string; size: number; queued_at: number };
  /** Named leases (the GC lock). */
  locks: { name: string; holder: string; expires_at: number };
  gc_runs: {
    id: string;
    trigger: string;
    dry_run: number;
    started_at: number;
    duration_ms: number;
    deleted_blobs: number;
    reclaimed_bytes: number;
    deleted_manifests: number;
    deleted_uploads: number;
    deleted_orphan_files: Generated<number>;
    error: string | null;
  };
  users: {
    id: string;
    name: string;
    /** `scrypt$N$r$p$salt$hash` (base64url); never the password. */
    password_hash: string;
    role: 'admin' | 'user';
    disabled: number;
    /** Bumped on password change and disable: refresh tokens issued before die. */
    credentials_version: Generated<number>;
    created_at: number;
    updated_at: number;
  };
  groups: { name: string; created_at: number };
  group_members: { group_name: string; user_id: string; created_at: number };
  /** Robot accounts / personal tokens: the secret is shown once; only its SHA-256 is kept. */
  access_tokens: {
    id: string;
    user_id: string;
    name: string;
    secret_hash: string;
    /** Optional repository glob the token is limited to. */
    repositories: string | null;
    /** Optional comma-separated actions the token is limited to. */
    actions: string | null;
    expires_at: number | null;
    created_at: number;
    last_used_at: number | null;
    revoked_at: number | null;
  };
  /** OAuth2 refresh tokens (docker's identity token): SHA-256 only, bound to a user and a service. */
  refresh_tokens: {
    id: string;
    token_hash: string;
    user_id: string;
    /** Set when the login used an access token: its limits and revocation carry over. */
    access_token_id: string | null;
    service: string;
    client_id: string | null;
    credentials_version: number;
    created_at: number;
    last_used_at: number | null;
    revoked_at: number | null;
  };
  /** Access policies: repository glob × subject × permissions (comma-separated). */
  policies: { id: string; repository: string; subject: string; permissions: string; created_at: number; updated_at: number };
  audit_events: {
    id: Generated<number>;
    at: number;
    type: string;
    actor: string | null;
    client_ip: string | null;
    repository: string | null;
    action: string | null;
    outcome: 'success' | 'failure' | 'denied';
    /** JSON, never a secret. */
    detail: string | null;
  };
}
