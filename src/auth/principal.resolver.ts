import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { OciError } from '../common/errors/oci-error';
import type { Principal } from '../access/access.types';
import { AuditService } from '../access/audit.service';
import { MetricsService } from '../metrics/metrics.service';
import { AuthChallenge } from './auth-challenge';
import { CredentialVerifier, parseBasic } from './credential.verifier';
import { TokenService } from './token.service';

const clientIps = new WeakMap<Request, string>();

/**
 * The client address audit and throttling key on: the socket's, or X-Forwarded-For's from a
 * trusted proxy (REGISTRY_TRUST_PROXY). Worked out once per request: a login asks three times.
 */
export function clientIp(req: Request): string {
  let ip = clientIps.get(req);
  if (ip === undefined) clientIps.set(req, (ip = req.ip ?? req.socket.remoteAddress ?? 'unknown'));
  return ip;
}

/**
 * Turns the Authorization header into a Principal: no header → anonymous; `Bearer` → a
 * verified registry token (else 401 `error="invalid_token"`); `Basic` → a live check of the
 * password or access token (else 401, or 429 while throttled). Any other scheme is refused.
 */
@Injectable()
export class PrincipalResolver {
  constructor(
    private readonly tokens: TokenService,
    private readonly credentials: CredentialVerifier,
    private readonly challenges: AuthChallenge,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
  ) {}

  async resolve(req: Request): Promise<Principal> {
    const header = req.headers.authorization;
    if (header === undefined || header.trim() === '') return { kind: 'anonymous' };
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (bearer) {
      const verified = this.tokens.verify(bearer[1]!);
      if (!verified) {
        this.audit.record({ type: 'access.denied', clientIp: clientIp(req), outcome: 'denied', detail: { reason: 'invalid token', method: req.method, path: req.path } });
        this.metrics.authFailure('invalid_token');
        throw new OciError('UNAUTHORIZED', undefined, 401, { 'WWW-Authenticate': this.challenges.bearer(req, [], 'invalid_token') }, 'invalid or expired token');
      }
      return { kind: 'bearer', subject: verified.subject, grants: verified.grants, accessTokenId: verified.accessTokenId };
    }
    const basic = parseBasic(header);
    if (basic) {
      try {
        return { kind: 'basic', identity: await this.credentials.verifyBasic(basic, clientIp(req), 'basic') };
      } catch (error) {
        if (error instanceof OciError && error.status === 401) {
          throw new OciError('UNAUTHORIZED', undefined, 401, { 'WWW-Authenticate': this.challenges.bearer(req) }, error.message);
        }
        throw error;
      }
    }
    throw new OciError('UNAUTHORIZED', undefined, 401, { 'WWW-Authenticate': this.challenges.bearer(req) }, 'unsupported authorization scheme');
  }
}
