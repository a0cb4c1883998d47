import { Inject, Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { randomUUID } from 'node:crypto';
import { OciError } from '../common/errors/oci-error';
import { parseRepositoryName } from '../common/oci/reference';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { AuthConfig, RegistryConfig } from '../config/registry-config';
import { UnitOfWork } from '../metadata/unit-of-work';
import { mayAdminister, type Grant, type Identity } from '../access/access.types';
import { PolicyService } from '../access/policy.service';
import { newSecret, REFRESH_TOKEN_PREFIX, secretHash } from '../access/secrets';
import type { ResourceScope } from './scope';
import { SigningKeyService } from './signing-key.service';

/** Clock skew tolerated on `nbf`/`exp` (distribution allows 60 s). */
const LEEWAY_SECONDS = 60;
const VERIFIED_MAX = 20_000;
/** More resources than any client asks for at once (docker: the repository plus mount sources). */
const MAX_SCOPES = 100;

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
  grants: Grant[];
}

export interface VerifiedToken {
  subject: string;
  grants: Grant[];
  /** The access token the login used, when it used one. */
  accessTokenId?: string;
  /** Epoch ms. */
  expiresAt: number;
}

interface RegistryClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: Grant[];
  /** Access token id, when the login used one (ours; registries ignore unknown claims). */
  tid?: string;
}

type TokenAuth = Extract<AuthConfig, { mode: 'token' }>;

/**
 * Issues and verifies registry tokens (Docker token auth JWTs). Granted = requested ∩
 * allowed: a repository scope gets the requested actions the policies allow (`*` asks for all
 * of them); `registry:catalog:*` is granted to everyone (the catalog lists only what the
 * caller may pull); `registry:admin:*` only to admins whose credential is not a limited access
 * token. Verified tokens are cached by their exact text until they expire, so the signature
 * check runs once per token, not once per request.
 */
@Injectable()
export class TokenService {
  private readonly auth: TokenAuth;
  private readonly verified = new Map<string, VerifiedToken>();

  constructor(
    @Inject(REGISTRY_CONFIG) config: RegistryConfig,
    private readonly jwt: JwtService,
    private readonly keys: SigningKeyService,
    private readonly policies: PolicyService,
    private readonly uow: UnitOfWork,
  ) {
    // With REGISTRY_AUTH=none nothing calls this service; the placeholder keeps DI simple.
    this.auth = config.auth.mode === 'token' ? config.auth : { mode: 'token', service: 'registry', issuer: 'registry', tokenTtlSeconds: 300, policiesFile: '', maxFailures: 5, lockoutMs: 60_000 };
  }

  get service(): string {
    return this.auth.service;
  }

  /** What `identity` (undefined: anonymous) is granted of `requested`. */
  async grant(identity: Identity | undefined, requested: readonly ResourceScope[]): Promise<Grant[]> {
    const grants: Grant[] = [];
    if (requested.length > MAX_SCOPES) throw OciError.invalidRequest(`at most ${MAX_SCOPES} scopes per token request`, { scopes: requested.length });
    const allowedOn = await this.policies.actionsFor(identity ?? 'anonymous');
    for (const scope of requested) {
      let actions: string[] = [];
      if (scope.type === 'repository') {
        let name: string;
        try {
          name = parseRepositoryName(scope.name);
        } catch {
          continue; // not a repository name: nothing to grant
        }
        const allowed: string[] = allowedOn(name);
        actions = scope.actions.includes('*') ? allowed : scope.actions.filter((a) => allowed.includes(a));
      } else if (scope.type === 'registry' && scope.name === 'catalog' && scope.actions.includes('*')) {
        actions = ['*'];
      } else if (scope.type === 'registry' && scope.name === 'admin' && scope.actions.includes('*')) {
        if (mayAdminister(identity)) actions = ['*'];
      }
      if (actions.length > 0) grants.push({ type: scope.type, name: scope.name, actions });
    }
    return grants;
  }

  /** Signs a registry token for `identity` (undefined: anonymous, `sub` ""). */
  async issue(identity: Identity | undefined, grants: Grant[]): Promise<IssuedToken> {
    const now = Math.floor(Date.now() / 1000);
    const claims: RegistryClaims = {
      iss: this.auth.issuer,
      sub: identity?.name ?? '',
      aud: this.auth.service,
      exp: now + this.auth.tokenTtlSeconds,
      nbf: now - 1,
      iat: now,
      jti: randomUUID(),
      access: grants,
      ...(identity?.accessToken && { tid: identity.accessToken.id }),
    };
    // sign, not signAsync: the signature is computed on this thread either way, and the async
    // form goes through jws's sign stream (about a third of the signing cost, in the profile).
    const token = this.jwt.sign(claims, { algorithm: this.keys.algorithm, privateKey: this.keys.privateKey, keyid: this.keys.kid });
    return { token, expiresIn: this.auth.tokenTtlSeconds, issuedAt: new Date(now * 1000).toISOString(), grants };
  }

  /** A new refresh token (returned once; only its hash is stored) bound to the identity and this service. */
  async issueRefreshToken(identity: Identity, clientId: string | undefined): Promise<string> {
    const user = await this.uow.stores.users.findById(identity.userId);
    if (!user) throw new OciError('UNAUTHORIZED', undefined, 401);
    const token = newSecret(REFRESH_TOKEN_PREFIX);
    await this.uow.stores.refreshTokens.create({
      id: randomUUID(),
      tokenHash: secretHash(token),
      userId: user.id,
      accessTokenId: identity.accessToken?.id,
      service: this.auth.service,
      clientId: clientId?.slice(0, 255),
      credentialsVersion: user.credentialsVersion,
      createdAt: Date.now(),
    });
    return token;
  }

  /**
   * Verifies a registry token: our key (by `kid`) and algorithm only (so `alg: none` and
   * HMAC-with-the-public-key tricks fail), our issuer, our service in `aud`, `nbf ≤ now ≤ exp`
   * with 60 s leeway. Undefined when it does not verify.
   */
  verify(token: string): VerifiedToken | undefined {
    const cached = this.verified.get(token);
    const nowMs = Date.now();
    if (cached) {
      if (cached.expiresAt + LEEWAY_SECONDS * 1000 > nowMs) return cached;
      this.verified.delete(token);
    }
    let claims: RegistryClaims;
    try {
      const decoded = this.jwt.decode<{ header?: { kid?: unknown } } | null>(token, { complete: true });
      if (!decoded || decoded.header?.kid !== this.keys.kid) return undefined;
      claims = this.jwt.verify<RegistryClaims>(token, {
        publicKey: this.keys.publicKeyPem,
        algorithms: [this.keys.algorithm],
        issuer: this.auth.issuer,
        audience: this.auth.service,
        clockTolerance: LEEWAY_SECONDS,
      });
    } catch {
      return undefined;
    }
    if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number' || typeof claims.nbf !== 'number' || !Array.isArray(claims.access)) return undefined;
    const grants = claims.access.filter(
      (g): g is Grant => typeof g?.type === 'string' && typeof g.name === 'string' && Array.isArray(g.actions) && g.actions.every((a) => typeof a === 'string'),
    );
    const result: VerifiedToken = { subject: claims.sub, grants, accessTokenId: typeof claims.tid === 'string' ? claims.tid : undefined, expiresAt: claims.exp * 1000 };
    if (this.verified.size >= VERIFIED_MAX) {
      for (const [key, value] of this.verified) if (value.expiresAt + LEEWAY_SECONDS * 1000 <= nowMs) this.verified.delete(key);
      if (this.verified.size >= VERIFIED_MAX) this.verified.clear();
    }
    this.verified.set(token, result);
    return result;
  }
}
