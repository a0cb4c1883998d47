/**
 * Helpers for specs of token authentication: asking `/token` for registry tokens (GET with
 * Basic credentials or anonymously, and the OAuth2 POST form), decoding and forging JWTs, and
 * the few admin REST calls (users, policies, access tokens) a spec needs to set the scene.
 * Everything is real HTTP against a registry started with `startRegistry({ auth: true })`.
 */
import { createPrivateKey, generateKeyPairSync, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningRegistry } from './start-registry';
import { TEST_ADMIN_PASSWORD, TEST_SERVICE } from './start-registry';

/** User name and password (or access-token secret). */
export interface Login {
  user: string;
  password: string;
}

export const ADMIN: Login = { user: 'admin', password: TEST_ADMIN_PASSWORD };

/** The issuer of registries started by startRegistry (REGISTRY_AUTH_ISSUER's default). */
export const TEST_ISSUER = 'nest-oci-registry';

/** The body of a 200 from `/token` (`scope` on POST answers only, `refresh_token` when one was asked for). */
export interface TokenAnswer {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  scope?: string;
  refresh_token?: string;
}

/** `Basic base64(user:password)`. */
export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** `Authorization` headers for a login, or none. */
export function authHeaders(login: Login | undefined): Record<string, string> {
  return login ? { authorization: basic(login.user, login.password) } : {};
}

/**
 * `GET /token?service=<TEST_SERVICE>&scope=…&scope=…` (one `scope` parameter per entry) with
 * Basic credentials or anonymously; `extra` adds or overrides query parameters (`service`,
 * `offline_token`, `account`…). The raw response, for specs that check failures.
 */
export function requestToken(registry: RunningRegistry, login: Login | undefined, scopes: string[] = [], extra: Record<string, string> = {}): Promise<Response> {
  const url = new URL('/token', registry.url);
  url.searchParams.set('service', TEST_SERVICE);
  for (const scope of scopes) url.searchParams.append('scope', scope);
  for (const [key, value] of Object.entries(extra)) url.searchParams.set(key, value);
  return fetch(url, { headers: authHeaders(login) });
}

/** Like requestToken, but the token must be issued (200): answers the parsed body. */
export async function getToken(registry: RunningRegistry, login: Login | undefined, scopes: string[] = [], extra: Record<string, string> = {}): Promise<TokenAnswer> {
  const res = await requestToken(registry, login, scopes, extra);
  if (res.status !== 200) throw new Error(`GET /token (${login?.user ?? 'anonymous'}, ${scopes.join(' ')}): ${res.status} ${await res.text()}`);
  return (await res.json()) as TokenAnswer;
}

/** The registry token alone (GET /token, must be 200). */
export async function tokenFor(registry: RunningRegistry, login: Login | undefined, scopes: string[] = []): Promise<string> {
  return (await getToken(registry, login, scopes)).token;
}

/**
 * `POST /token` with a form body (`application/x-www-form-urlencoded`). `service` defaults to
 * TEST_SERVICE and `client_id` to "e2e"; pass them as undefined to leave them out.
 */
export function postToken(registry: RunningRegistry, form: Record<string, string | undefined>): Promise<Response> {
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries({ service: TEST_SERVICE, client_id: 'e2e', ...form })) if (value !== undefined) body.set(key, value);
  return fetch(new URL('/token', registry.url), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
}

// ------------------------------------------------------------------------------------- JWTs

export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** `base64url(header).base64url(payload)`: the bytes the signature covers. */
  signingInput: string;
  signature: Buffer;
}

/** Splits and decodes a compact JWS without verifying anything. */
export function decodeJwt(token: string): DecodedJwt {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`not a compact JWT: ${token.slice(0, 40)}…`);
  const json = (part: string): Record<string, unknown> => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: json(parts[0]!), payload: json(parts[1]!), signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2]!, 'base64url') };
}

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * A compact JWT with exactly `header` and `claims`, signed ES256 (P-256, the raw r‖s signature
 * of JWS) with `key`. With `alg: "none"` in the header the signature is left empty and `key`
 * is not used.
 */
export function forgeToken(claims: Record<string, unknown>, header: Record<string, unknown>, key?: KeyObject): string {
  const input = `${b64url(header)}.${b64url(claims)}`;
  if (header['alg'] === 'none') return `${input}.`;
  if (!key) throw new Error('forgeToken: a key is needed unless alg is none');
  return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

/** Replaces a token's payload, keeping its header and signature (which then no longer match). */
export function withPayload(token: string, claims: Record<string, unknown>): string {
  const [header, , signature] = token.split('.');
  return `${header}.${b64url(claims)}.${signature}`;
}

/** The registry's own signing key (`<dataDir>/auth/token-signing-key.pem`, generated on first start). */
export function registrySigningKey(registry: RunningRegistry): KeyObject {
  return createPrivateKey(readFileSync(join(registry.dataDir, 'auth', 'token-signing-key.pem')));
}

/** A fresh P-256 private key the registry has never seen. */
export function foreignKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

/** The registry's JWKS (`GET /.well-known/jwks.json`). */
export async function jwks(registry: RunningRegistry): Promise<{ keys: (JsonWebKey & { kid: string; alg: string; use: string })[] }> {
  const res = await fetch(new URL('/.well-known/jwks.json', registry.url));
  if (res.status !== 200) throw new Error(`GET /.well-known/jwks.json: ${res.status}`);
  return (await res.json()) as { keys: (JsonWebKey & { kid: string; alg: string; use: string })[] };
}

/**
 * Claims of a token the registry would accept (its issuer, TEST_SERVICE as audience, valid
 * for five minutes from now, subject admin, no access) with `overrides` applied; an override
 * of `undefined` removes the claim.
 */
export function claimsWith(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { iss: TEST_ISSUER, sub: 'admin', aud: TEST_SERVICE, exp: now + 300, nbf: now - 1, iat: now, jti: `forged-${Math.random()}`, access: [], ...overrides };
  for (const [key, value] of Object.entries(overrides)) if (value === undefined) delete claims[key];
  return claims;
}

// ------------------------------------------------------------------------------ admin REST

/** A request to the admin REST API (`/api/v1…`, or any path) with `login`'s Basic credentials (admin by default). */
export function adminRequest(registry: RunningRegistry, method: string, path: string, body?: unknown, login: Login = ADMIN): Promise<Response> {
  const headers: Record<string, string> = authHeaders(login);
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(new URL(path, registry.url), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

/** Like adminRequest, but the answer must be 2xx: the parsed JSON body (undefined for 204). */
export async function adminCall<T = unknown>(registry: RunningRegistry, method: string, path: string, body?: unknown): Promise<T> {
  const res = await adminRequest(registry, method, path, body);
  const text = await res.text();
  if (res.status < 200 || res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** Creates a user (role `user` unless given); answers its login. */
export async function createUser(registry: RunningRegistry, name: string, password = `${name}-password`, role: 'user' | 'admin' = 'user'): Promise<Login> {
  await adminCall(registry, 'POST', '/api/v1/users', { name, password, role });
  return { user: name, password };
}

export interface PolicyView {
  id: string;
  repository: string;
  user: string;
  permissions: string[];
}

/** Creates a policy `{repository glob, user, permissions}`. */
export function createPolicy(registry: RunningRegistry, repository: string, user: string, permissions: string[]): Promise<PolicyView> {
  return adminCall<PolicyView>(registry, 'POST', '/api/v1/policies', { repository, user, permissions });
}

/**
 * Deletes every policy, the seed (`*` user `*` = pull, push, delete) included, so that only
 * policies a spec creates afterwards grant anything to non-admins.
 */
export async function deleteAllPolicies(registry: RunningRegistry): Promise<void> {
  const { policies } = await adminCall<{ policies: PolicyView[] }>(registry, 'GET', '/api/v1/policies');
  for (const p of policies) await adminCall(registry, 'DELETE', `/api/v1/policies/${p.id}`);
}

export interface AccessTokenCreated {
  id: string;
  secret: string;
  name: string;
  repositories: string | null;
  actions: string[] | null;
  expiresAt: string | null;
}

/** Creates an access token for `user` (`POST /api/v1/users/<user>/tokens`); the answer carries its `secret`. */
export function createAccessToken(
  registry: RunningRegistry,
  user: string,
  options: { name?: string; repositories?: string; actions?: string[]; expiresAt?: string } = {},
): Promise<AccessTokenCreated> {
  return adminCall<AccessTokenCreated>(registry, 'POST', `/api/v1/users/${user}/tokens`, { name: 'e2e', ...options });
}

export interface AuditEventView {
  id: number;
  at: string;
  type: string;
  actor?: string | null;
  clientIp?: string | null;
  repository?: string | null;
  action?: string | null;
  outcome: 'success' | 'failure' | 'denied';
  detail?: unknown;
}

/** Audit events, newest first (`GET /api/v1/audit?…`, admin). */
export async function auditEvents(registry: RunningRegistry, query: Record<string, string> = {}): Promise<AuditEventView[]> {
  const qs = new URLSearchParams({ limit: '500', ...query }).toString();
  return (await adminCall<{ events: AuditEventView[] }>(registry, 'GET', `/api/v1/audit?${qs}`)).events;
}
