import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { OciError } from '../common/errors/oci-error';
import type { PolicyRecord } from '../metadata/stores/policy.store';
import { UnitOfWork } from '../metadata/unit-of-work';
import { REGISTRY_ACTIONS, type Identity, type RegistryAction } from './access.types';
import { AuditService } from './audit.service';
import { allowedActions, decide, type Decision, type Subject } from './policy-evaluator';
import { isUniqueViolation, UserService } from './user.service';

export interface PolicyInput {
  repository: string;
  user: string;
  permissions: RegistryAction[];
}

export interface PolicyView {
  id: string;
  repository: string;
  user: string;
  permissions: RegistryAction[];
  createdAt: string;
  updatedAt: string;
}

export const toPolicyView = (p: PolicyRecord): PolicyView => ({
  id: p.id,
  repository: p.repository,
  user: p.subject,
  permissions: p.permissions,
  createdAt: new Date(p.createdAt).toISOString(),
  updatedAt: new Date(p.updatedAt).toISOString(),
});

/** Permissions in their canonical order, without duplicates. */
const canonical = (permissions: RegistryAction[]): RegistryAction[] => REGISTRY_ACTIONS.filter((a) => permissions.includes(a));

/**
 * Access policies `{repository glob, user, permissions}` and their evaluation. Policies are
 * read from the database at every evaluation (no cache), so a change takes effect on the next
 * token or request, on every replica.
 */
@Injectable()
export class PolicyService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly users: UserService,
    private readonly audit: AuditService,
  ) {}

  async list(): Promise<PolicyView[]> {
    return (await this.uow.stores.policies.list()).map(toPolicyView);
  }

  async get(id: string): Promise<PolicyView> {
    const policy = await this.uow.stores.policies.find(id);
    if (!policy) throw OciError.notFound('policy', { id });
    return toPolicyView(policy);
  }

  async create(input: PolicyInput, actor?: string): Promise<PolicyView> {
    const now = Date.now();
    const policy: PolicyRecord = {
      id: randomUUID(),
      repository: input.repository,
      subject: input.user,
      permissions: canonical(input.permissions),
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.uow.stores.policies.create(policy);
    } catch (error) {
      if (isUniqueViolation(error)) throw OciError.conflict('a policy for this repository and user already exists', { repository: input.repository, user: input.user });
      throw error;
    }
    this.audit.record({ type: 'policy.create', actor, outcome: 'success', detail: { id: policy.id, repository: policy.repository, user: policy.subject, permissions: policy.permissions } });
    return toPolicyView(policy);
  }

  async update(id: string, changes: Partial<PolicyInput>, actor?: string): Promise<PolicyView> {
    let updated: PolicyRecord | undefined;
    try {
      updated = await this.uow.stores.policies.update(
        id,
        { repository: changes.repository, subject: changes.user, permissions: changes.permissions && canonical(changes.permissions) },
        Date.now(),
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw OciError.conflict('a policy for this repository and user already exists', { repository: changes.repository, user: changes.user });
      throw error;
    }
    if (!updated) throw OciError.notFound('policy', { id });
    this.audit.record({ type: 'policy.update', actor, outcome: 'success', detail: { id, repository: updated.repository, user: updated.subject, permissions: updated.permissions } });
    return toPolicyView(updated);
  }

  async delete(id: string, actor?: string): Promise<void> {
    const policy = await this.uow.stores.policies.find(id);
    if (!policy || !(await this.uow.stores.policies.delete(id))) throw OciError.notFound('policy', { id });
    this.audit.record({ type: 'policy.delete', actor, outcome: 'success', detail: { id, repository: policy.repository, user: policy.subject } });
  }

  /** What `subject` may do on `repository` right now. */
  async allowedActions(subject: Subject, repository: string): Promise<RegistryAction[]> {
    return allowedActions(await this.uow.stores.policies.list(), subject, repository);
  }

  /** What `subject` may do, as a function of the repository: one policy read for many names (token scopes, catalog, mounts). */
  async actionsFor(subject: Subject): Promise<(repository: string) => RegistryAction[]> {
    const policies = await this.uow.stores.policies.list();
    return (repository) => allowedActions(policies, subject, repository);
  }

  /** A predicate over repository names: those `subject` may pull. */
  async pullFilter(subject: Subject): Promise<(repository: string) => boolean> {
    const actions = await this.actionsFor(subject);
    return (repository) => actions(repository).includes('pull');
  }

  /** The check endpoint: may `userName` (or `anonymous`) do `action` on `repository`, and which policy decided. */
  async check(userName: string, repository: string, action: RegistryAction): Promise<Decision> {
    let subject: Subject = 'anonymous';
    if (userName !== 'anonymous') {
      await this.users.require(userName); // 404 for an unknown user
      const identity: Identity | undefined = await this.users.identityOf(userName);
      if (!identity) return { allowed: false, reason: 'user-disabled' };
      subject = identity;
    }
    return decide(await this.uow.stores.policies.list(), subject, repository, action);
  }

  /** Seeds policies on the first start only (deleting every policy later does not bring them back). Returns how many were created. */
  async seed(policies: PolicyInput[]): Promise<number> {
    return this.uow.run(async (stores) => {
      if ((await stores.counters.get('policies_seeded')) > 0) return 0;
      await stores.counters.increment('policies_seeded');
      const now = Date.now();
      // One millisecond apart, so "oldest first" (listing, the deciding policy) keeps the file's order instead of the random ids'.
      for (const [i, p] of policies.entries()) {
        await stores.policies.create({ id: randomUUID(), repository: p.repository, subject: p.user, permissions: canonical(p.permissions), createdAt: now + i, updatedAt: now + i });
      }
      return policies.length;
    });
  }
}
