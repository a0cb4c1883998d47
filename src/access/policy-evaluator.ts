import type { PolicyRecord } from '../metadata/stores/policy.store';
import { REGISTRY_ACTIONS, type Identity, type RegistryAction } from './access.types';
import { matchesGlob } from './repository-glob';

export type Subject = Identity | 'anonymous';

export interface Decision {
  allowed: boolean;
  /** Why: `admin`, `policy` (see `policy`), `access-token-limit`, `user-disabled` or `no-policy`. */
  reason: 'admin' | 'policy' | 'access-token-limit' | 'user-disabled' | 'no-policy';
  /** The first policy (oldest) that grants the action, when one decided. */
  policy?: PolicyRecord;
}

/** True when `policy` names this subject: its user, one of its groups, `*` (any logged-in user) or `anonymous` (everyone). */
function appliesTo(policy: PolicyRecord, subject: Subject): boolean {
  if (policy.subject === 'anonymous') return true; // what anonymous may do, logged-in users may do too
  if (subject === 'anonymous') return false;
  if (policy.subject === '*') return true;
  if (policy.subject.startsWith('group:')) return subject.groups.includes(policy.subject.slice(6));
  return policy.subject === subject.name;
}

/** The access token's limit on a repository: the actions it lets through (all when it has no limit). */
function tokenLimit(subject: Subject, repository: string): readonly RegistryAction[] {
  const token = subject === 'anonymous' ? undefined : subject.accessToken;
  if (!token) return REGISTRY_ACTIONS;
  if (token.repositories !== undefined && !matchesGlob(token.repositories, repository)) return [];
  return token.actions ? REGISTRY_ACTIONS.filter((a) => token.actions!.includes(a)) : REGISTRY_ACTIONS;
}

/**
 * Allowed actions = union of the policies that match the repository and name the subject
 * (admins: every action), narrowed by the access token's limit when the credential was one.
 */
export function allowedActions(policies: readonly PolicyRecord[], subject: Subject, repository: string): RegistryAction[] {
  const limit = tokenLimit(subject, repository);
  if (subject !== 'anonymous' && subject.role === 'admin') return [...limit];
  const allowed = new Set<RegistryAction>();
  for (const policy of policies) {
    if (appliesTo(policy, subject) && matchesGlob(policy.repository, repository)) for (const p of policy.permissions) allowed.add(p);
  }
  return REGISTRY_ACTIONS.filter((a) => allowed.has(a) && limit.includes(a));
}

/** Whether the subject may do `action` on `repository`, and what decided it (for the check endpoint and audits). */
export function decide(policies: readonly PolicyRecord[], subject: Subject, repository: string, action: RegistryAction): Decision {
  if (!tokenLimit(subject, repository).includes(action)) return { allowed: false, reason: 'access-token-limit' };
  if (subject !== 'anonymous' && subject.role === 'admin') return { allowed: true, reason: 'admin' };
  const policy = policies.find((p) => p.permissions.includes(action) && appliesTo(p, subject) && matchesGlob(p.repository, repository));
  return policy ? { allowed: true, reason: 'policy', policy } : { allowed: false, reason: 'no-policy' };
}
