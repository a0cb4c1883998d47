import { Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';

/**
 * `WWW-Authenticate` challenges (RFC 6750 §3, Docker token auth): the realm is the token
 * endpoint under REGISTRY_PUBLIC_URL, or under the address the client used when none is
 * configured (as a trusted proxy forwarded it); the service is REGISTRY_AUTH_SERVICE.
 */
@Injectable()
export class AuthChallenge {
  constructor(@Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig) {}

  realm(req: Request): string {
    // req.protocol and req.host honour X-Forwarded-Proto/-Host only from trusted proxies (REGISTRY_TRUST_PROXY).
    const base = this.config.http.publicUrl ?? `${req.protocol}://${req.host ?? `${this.config.http.host}:${this.config.http.port}`}`;
    return `${base}/token`;
  }

  /** `Bearer realm="…",service="…"[,scope="…"][,error="…"]`. */
  bearer(req: Request, scopes: string[] = [], error?: 'invalid_token' | 'insufficient_scope'): string {
    const service = this.config.auth.mode === 'token' ? this.config.auth.service : 'registry';
    let header = `Bearer realm="${this.realm(req)}",service="${service}"`;
    if (scopes.length > 0) header += `,scope="${scopes.join(' ')}"`;
    if (error) header += `,error="${error}"`;
    return header;
  }
}
