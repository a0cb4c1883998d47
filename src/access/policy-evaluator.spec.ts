import type { PolicyRecord, RegistryAction } from '../metadata/stores/policy.store';
import type { Identity } from './access.types';
import { allowedActions, decide } from './policy-evaluator';

let created = 0;
/** A policy record; each one is created after the previous (lists are oldest first). */
function policy(id: string, repository: string, subject: string, permissions: RegistryAction[]): PolicyRecord {
  created++;
  return { id, repository, subject, permissions, createdAt: created, updatedAt: created };
}

function user(name: string, extra: Partial<Identity> = {}): Identity {
  return { userId: `id-${name}`, name, role: 'user', groups: [], ...extra };
}

const admin = (extra: Partial<Identity> = {}): Identity => user('root', { role: 'admin', ...extra });

describe(allowedActions.name, () => {
  it('grants nothing without policies', () => {
    expect(allowedActions([], user('alice'), 'a/b')).toEqual([]);
    expect(allowedActions([], 'anonymous', 'a/b')).toEqual([]);
  });

  it('grants the union of every matching policy, in canonical order', () => {
    const policies = [policy('1', 'team/*', 'alice', ['delete']), policy('2', '*', 'alice', ['pull']), policy('3', 'team/app', 'alice', ['push', 'pull'])];
    expect(allowedActions(policies, user('alice'), 'team/app')).toEqual(['pull', 'push', 'delete']);
    expect(allowedActions(policies, user('alice'), 'team/other')).toEqual(['pull', 'delete']);
    expect(allowedActions(policies, user('alice'), 'elsewhere')).toEqual(['pull']);
  });

  it('ignores policies whose repository glob does not match', () => {
    const policies = [policy('1', 'myorg/*', 'alice', ['pull', 'push'])];
    expect(allowedActions(policies, user('alice'), 'myorg')).toEqual([]);
    expect(allowedActions(policies, user('alice'), 'other/app')).toEqual([]);
  });

  it('applies a user policy to that user only, by exact name', () => {
    const policies = [policy('1', '*', 'alice', ['pull'])];
    expect(allowedActions(policies, user('alice'), 'r')).toEqual(['pull']);
    expect(allowedActions(policies, user('bob'), 'r')).toEqual([]);
    expect(allowedActions(policies, user('alice2'), 'r')).toEqual([]);
    expect(allowedActions(policies, user('alic'), 'r')).toEqual([]);
  });

  it('applies a group:<name> policy to the members of that group', () => {
    const policies = [policy('1', 'dev/*', 'group:dev', ['pull', 'push'])];
    expect(allowedActions(policies, user('alice', { groups: ['ops', 'dev'] }), 'dev/app')).toEqual(['pull', 'push']);
    expect(allowedActions(policies, user('bob', { groups: ['ops'] }), 'dev/app')).toEqual([]);
    expect(allowedActions(policies, user('carol', { groups: ['devs', 'de'] }), 'dev/app')).toEqual([]);
  });

  it('does not confuse a group with a user of the same name', () => {
    expect(allowedActions([policy('1', '*', 'group:dev', ['pull'])], user('dev'), 'r')).toEqual([]);
    expect(allowedActions([policy('1', '*', 'dev', ['pull'])], user('alice', { groups: ['dev'] }), 'r')).toEqual([]);
  });

  it('applies * to every logged-in user but not to anonymous callers', () => {
    const policies = [policy('1', '*', '*', ['pull', 'push'])];
    expect(allowedActions(policies, user('alice'), 'r')).toEqual(['pull', 'push']);
    expect(allowedActions(policies, user('bob', { groups: ['x'] }), 'r')).toEqual(['pull', 'push']);
    expect(allowedActions(policies, 'anonymous', 'r')).toEqual([]);
  });

  it('applies anonymous to anonymous callers and to logged-in users alike', () => {
    const policies = [policy('1', 'public/*', 'anonymous', ['pull'])];
    expect(allowedActions(policies, 'anonymous', 'public/app')).toEqual(['pull']);
    expect(allowedActions(policies, user('alice'), 'public/app')).toEqual(['pull']);
    expect(allowedActions(policies, 'anonymous', 'private/app')).toEqual([]);
  });

  it('adds what anonymous may do to what the user may do', () => {
    const policies = [policy('1', '*', 'anonymous', ['pull']), policy('2', '*', 'alice', ['push'])];
    expect(allowedActions(policies, user('alice'), 'r')).toEqual(['pull', 'push']);
  });

  it('grants an admin every action, even without any policy', () => {
    expect(allowedActions([], admin(), 'any/repo')).toEqual(['pull', 'push', 'delete']);
  });

  it('does not narrow an access token without limits', () => {
    const token = { id: 't', repositories: undefined, actions: undefined };
    expect(allowedActions([policy('1', '*', 'alice', ['pull', 'delete'])], user('alice', { accessToken: token }), 'r')).toEqual(['pull', 'delete']);
    expect(allowedActions([], admin({ accessToken: token }), 'r')).toEqual(['pull', 'push', 'delete']);
  });

  it("narrows a user's actions to the access token's action limit", () => {
    const policies = [policy('1', '*', 'alice', ['pull', 'push', 'delete'])];
    expect(allowedActions(policies, user('alice', { accessToken: { id: 't', actions: ['pull'] } }), 'r')).toEqual(['pull']);
    expect(allowedActions(policies, user('alice', { accessToken: { id: 't', actions: ['delete', 'push'] } }), 'r')).toEqual(['push', 'delete']);
  });

  it('never widens the policies with the access token limit', () => {
    const policies = [policy('1', '*', 'alice', ['pull'])];
    expect(allowedActions(policies, user('alice', { accessToken: { id: 't', actions: ['pull', 'push', 'delete'] } }), 'r')).toEqual(['pull']);
  });

  it("grants nothing outside the access token's repository glob", () => {
    const policies = [policy('1', '*', 'alice', ['pull', 'push'])];
    const alice = user('alice', { accessToken: { id: 't', repositories: 'ci/*' } });
    expect(allowedActions(policies, alice, 'ci/app')).toEqual(['pull', 'push']);
    expect(allowedActions(policies, alice, 'ci')).toEqual([]);
    expect(allowedActions(policies, alice, 'prod/app')).toEqual([]);
  });

  it("narrows even an admin to the access token's limits", () => {
    const root = admin({ accessToken: { id: 't', repositories: 'ci/*', actions: ['pull', 'push'] } });
    expect(allowedActions([], root, 'ci/app')).toEqual(['pull', 'push']);
    expect(allowedActions([], root, 'prod/app')).toEqual([]);
  });
});

describe(decide.name, () => {
  it('allows an admin with reason admin and no policy', () => {
    expect(decide([], admin(), 'r', 'delete')).toEqual({ allowed: true, reason: 'admin' });
  });

  it('denies with no-policy when no policy grants the action', () => {
    const policies = [policy('1', '*', 'alice', ['pull']), policy('2', 'other/*', 'alice', ['push']), policy('3', '*', 'bob', ['push'])];
    expect(decide(policies, user('alice'), 'r', 'push')).toEqual({ allowed: false, reason: 'no-policy' });
    expect(decide(policies, 'anonymous', 'r', 'pull')).toEqual({ allowed: false, reason: 'no-policy' });
  });

  it('allows with the granting policy', () => {
    const grant = policy('1', 'team/*', 'group:team', ['pull', 'push']);
    expect(decide([grant], user('alice', { groups: ['team'] }), 'team/app', 'push')).toEqual({ allowed: true, reason: 'policy', policy: grant });
  });

  it('reports the oldest policy that grants the action, skipping older ones that do not', () => {
    const pullOnly = policy('1', '*', 'alice', ['pull']);
    const otherRepo = policy('2', 'x/*', 'alice', ['push']);
    const otherUser = policy('3', '*', 'bob', ['push']);
    const first = policy('4', '*', 'group:dev', ['push']);
    const second = policy('5', '*', '*', ['push']);
    const policies = [pullOnly, otherRepo, otherUser, first, second];
    expect(decide(policies, user('alice', { groups: ['dev'] }), 'r', 'push')).toEqual({ allowed: true, reason: 'policy', policy: first });
    expect(decide(policies, user('alice', { groups: ['dev'] }), 'r', 'pull')).toEqual({ allowed: true, reason: 'policy', policy: pullOnly });
    expect(decide(policies, user('carol'), 'r', 'push')).toEqual({ allowed: true, reason: 'policy', policy: second });
  });

  it('allows an anonymous caller through an anonymous policy, but not through *', () => {
    const everyone = policy('1', '*', '*', ['pull', 'push']);
    const anon = policy('2', 'public/*', 'anonymous', ['pull']);
    expect(decide([everyone, anon], 'anonymous', 'public/app', 'pull')).toEqual({ allowed: true, reason: 'policy', policy: anon });
    expect(decide([everyone, anon], 'anonymous', 'public/app', 'push')).toEqual({ allowed: false, reason: 'no-policy' });
  });

  it("denies with access-token-limit an action outside the token's actions, even when a policy grants it", () => {
    const policies = [policy('1', '*', 'alice', ['pull', 'push'])];
    const alice = user('alice', { accessToken: { id: 't', actions: ['pull'] } });
    expect(decide(policies, alice, 'r', 'push')).toEqual({ allowed: false, reason: 'access-token-limit' });
    expect(decide(policies, alice, 'r', 'pull')).toEqual({ allowed: true, reason: 'policy', policy: policies[0] });
  });

  it("denies with access-token-limit a repository outside the token's glob", () => {
    const policies = [policy('1', '*', 'alice', ['pull'])];
    expect(decide(policies, user('alice', { accessToken: { id: 't', repositories: 'ci/*' } }), 'prod/app', 'pull')).toEqual({
      allowed: false,
      reason: 'access-token-limit',
    });
  });

  it("limits an admin's access token too, and otherwise decides admin", () => {
    const root = admin({ accessToken: { id: 't', repositories: 'ci/*', actions: ['pull'] } });
    expect(decide([], root, 'ci/app', 'pull')).toEqual({ allowed: true, reason: 'admin' });
    expect(decide([], root, 'ci/app', 'delete')).toEqual({ allowed: false, reason: 'access-token-limit' });
    expect(decide([], root, 'prod/app', 'pull')).toEqual({ allowed: false, reason: 'access-token-limit' });
  });

  it('agrees with allowedActions for every action', () => {
    const policies = [policy('1', 'a/*', 'group:g', ['pull']), policy('2', '*/b', 'alice', ['push']), policy('3', '*', 'anonymous', ['delete'])];
    const subjects = [user('alice', { groups: ['g'] }), user('bob'), 'anonymous' as const, user('alice', { accessToken: { id: 't', actions: ['push'] } })];
    for (const subject of subjects) {
      for (const repository of ['a/b', 'a/c', 'x/b', 'x']) {
        const allowed = allowedActions(policies, subject, repository);
        for (const action of ['pull', 'push', 'delete'] as const) expect(decide(policies, subject, repository, action).allowed).toBe(allowed.includes(action));
      }
    }
  });
});
