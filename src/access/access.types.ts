import type { AccessTokenRecord } from '../metadata/stores/access-token.store';
import type { RegistryAction } from '../metadata/stores/policy.store';
import type { UserRole } from '../metadata/stores/user.store';

export type { RegistryAction };
export const REGISTRY_ACTIONS: readonly RegistryAction[] = ['pull', 'push', 'delete'];

/**
 * What a route needs: nothing, any valid credentials, an action on the route's repository,
 * the catalog scope (`registry:catalog:*`), or the admin role.
 */
export type RouteAccess = 'public' | 'authenticated' | RegistryAction | 'catalog' | 'admin';

/** A user as credentials resolved it (live from the database). */
export interface Identity {
  userId: string;
  name: string;
  role: UserRole;
  groups: string[];
  /** Set when the credential was an access token: its limits narrow what the user may do. */
  accessToken?: Pick<AccessTokenRecord, 'id' | 'repositories' | 'actions'>;
}

/** An access token still usable: not revoked, not expired. */
export function isAccessTokenLive(token: Pick<AccessTokenRecord, 'revokedAt' | 'expiresAt'>, now = Date.now()): boolean {
  return token.revokedAt === undefined && (token.expiresAt === undefined || token.expiresAt > now);
}

/** The identity of a login made with `token`: the user, narrowed by the token's limits. */
export function withAccessToken(identity: Identity, token: AccessTokenRecord): Identity {
  return { ...identity, accessToken: { id: token.id, repositories: token.repositories, actions: token.actions } };
}

/** An admin whose credential is not a limited access token (a token limited to some repositories or actions never administers). */
export function mayAdminister(identity: Identity | undefined): boolean {
  const token = identity?.accessToken;
  return identity?.role === 'admin' && (token === undefined || (token.repositories === undefined && token.actions === undefined));
}

/** One `access` entry of a registry token (Docker token auth). */
export interface Grant {
  type: string;
  name: string;
  actions: string[];
}

/**
 * Who is calling, resolved once per request by the guard and kept on the request:
 * - `open`: authentication is off (`REGISTRY_AUTH=none`), everything is allowed;
 * - `anonymous`: no credentials;
 * - `bearer`: a verified registry token; what it may do is its `access` claim;
 * - `basic`: user name and password (or access token) sent straight to the API; checked live against policies.
 */
export type Principal =
  | { kind: 'open' }
  | { kind: 'anonymous' }
  | { kind: 'bearer'; subject: string; grants: Grant[]; accessTokenId?: string }
  | { kind: 'basic'; identity: Identity };

export type PrincipalRequest = { principal?: Principal };

/** The actor name audit events record for a principal. */
export function actorOf(principal: Principal | undefined): string | undefined {
  if (!principal || principal.kind === 'open') return undefined;
  if (principal.kind === 'anonymous') return 'anonymous';
  if (principal.kind === 'bearer') return principal.subject === '' ? 'anonymous' : principal.subject;
  return principal.identity.name;
}
