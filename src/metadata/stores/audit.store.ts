import type { Executor } from './executor';

export type AuditOutcome = 'success' | 'failure' | 'denied';

export interface AuditEvent {
  at: number;
  /** e.g. `login`, `access.denied`, `manifest.push`, `manifest.delete`, `user.create`, `policy.update`. */
  type: string;
  /** The user name acting (`anonymous` for no credentials), when known. */
  actor?: string;
  clientIp?: string;
  repository?: string;
  action?: string;
  outcome: AuditOutcome;
  /** Free-form context. Never a secret. */
  detail?: Record<string, unknown>;
}

export interface AuditRecord extends AuditEvent {
  id: number;
}

export interface AuditQuery {
  type?: string;
  actor?: string;
  repository?: string;
  outcome?: AuditOutcome;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Events with an id below this (the next page, newest first). */
  before?: number;
  limit: number;
}

/** The append-only audit log. */
export interface AuditStore {
  append(events: AuditEvent[]): Promise<void>;
  /** Newest first. */
  query(q: AuditQuery): Promise<AuditRecord[]>;
  /** Deletes events older than `cutoff`; returns how many. */
  prune(cutoff: number): Promise<number>;
}

export class KyselyAuditStore implements AuditStore {
  constructor(private readonly db: Executor) {}

  async append(events: AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.db
      .insertInto('audit_events')
      .values(
        events.map((e) => ({
          at: e.at,
          type: e.type,
          actor: e.actor ?? null,
          client_ip: e.clientIp ?? null,
          repository: e.repository ?? null,
          action: e.action ?? null,
          outcome: e.outcome,
          detail: e.detail === undefined ? null : JSON.stringify(e.detail),
        })),
      )
      .execute();
  }

  async query(q: AuditQuery): Promise<AuditRecord[]> {
    let query = this.db.selectFrom('audit_events').selectAll().orderBy('id', 'desc').limit(q.limit);
    if (q.type !== undefined) query = query.where('type', '=', q.type);
    if (q.actor !== undefined) query = query.where('actor', '=', q.actor);
    if (q.repository !== undefined) query = query.where('repository', '=', q.repository);
    if (q.outcome !== undefined) query = query.where('outcome', '=', q.outcome);
    if (q.since !== undefined) query = query.where('at', '>=', q.since);
    if (q.before !== undefined) query = query.where('id', '<', q.before);
    return (await query.execute()).map((r) => ({
      id: Number(r.id),
      at: Number(r.at),
      type: r.type,
      actor: r.actor ?? undefined,
      clientIp: r.client_ip ?? undefined,
      repository: r.repository ?? undefined,
      action: r.action ?? undefined,
      outcome: r.outcome,
      detail: r.detail === null ? undefined : (JSON.parse(r.detail) as Record<string, unknown>),
    }));
  }

  async prune(cutoff: number): Promise<number> {
    const result = await this.db.deleteFrom('audit_events').where('at', '<', cutoff).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
