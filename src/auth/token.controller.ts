import { Controller, Get, Inject, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { OciError } from '../common/errors/oci-error';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';
import type { Grant, Identity, PrincipalRequest } from '../access/access.types';
import { AuditService } from '../access/audit.service';
import { RequireAccess } from '../access/require-access.decorator';
import { MetricsService } from '../metrics/metrics.service';
import { AuthChallenge } from './auth-challenge';
import { CredentialVerifier, parseBasic } from './credential.verifier';
import { clientIp } from './principal.resolver';
import { formatScope, parseScopes } from './scope';
import { SigningKeyService } from './signing-key.service';
import { TokenService } from './token.service';

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : typeof value === 'string' ? [value] : []);
const single = (value: unknown): string | undefined => strings(value)[0];

/**
 * The token endpoint of Docker token authentication (`/token`, the realm of our challenges):
 * GET with Basic credentials or none (anonymous), and the OAuth2 POST form (`password` and
 * `refresh_token` grants) that docker uses with identity tokens and containerd tries first.
 * Answers always carry both `token` and `access_token`; errors are JSON (containerd falls
 * back to GET only on a JSON error). Also serves the signing key as a JWKS.
 */
@Controller()
@RequireAccess('public')
export class TokenController {
  constructor(
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
    private readonly tokens: TokenService,
    private readonly credentials: CredentialVerifier,
    private readonly challenges: AuthChallenge,
    private readonly keys: SigningKeyService,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
  ) {}

  @Get('/token')
  async get(@Query() query: Record<string, unknown>, @Req() req: Request, @Res() res: Response): Promise<void> {
    this.requireTokenAuth();
    this.checkService(single(query['service']));
    let identity: Identity | undefined;
    const header = req.headers.authorization;
    if (header !== undefined && header.trim() !== '') {
      const basic = parseBasic(header);
      if (!basic) throw this.unauthorized(req, 'the token endpoint takes Basic credentials or none');
      identity = await this.login(() => this.credentials.verifyBasic(basic, clientIp(req), 'token'), req);
    }
    const grants = await this.tokens.grant(identity, parseScopes(strings(query['scope'])));
    const wantsRefresh = identity !== undefined && single(query['offline_token']) === 'true';
    const refreshToken = wantsRefresh ? await this.tokens.issueRefreshToken(identity!, single(query['client_id'])) : undefined;
    await this.answer(req, res, identity, grants, refreshToken, false);
    this.metrics.tokenIssued('token');
  }

  @Post('/token')
  async post(@Req() req: Request & { body?: Record<string, unknown> }, @Res() res: Response): Promise<void> {
    this.requireTokenAuth();
    const form = req.body ?? {};
    this.checkService(single(form['service']));
    const grantType = single(form['grant_type']);
    let identity: Identity;
    let refreshToken: string | undefined;
    if (grantType === 'password') {
      const user = single(form['username']);
      const password = single(form['password']);
      if (!user || password === undefined) throw OciError.invalidRequest('username and password are required', { error: 'invalid_request' });
      identity = await this.login(() => this.credentials.verifyBasic({ user, password }, clientIp(req), 'oauth'), req);
      if (single(form['access_type']) === 'offline') refreshToken = await this.tokens.issueRefreshToken(identity, single(form['client_id']));
    } else if (grantType === 'refresh_token') {
      const given = single(form['refresh_token']);
      if (!given) throw OciError.invalidRequest('refresh_token is required', { error: 'invalid_request' });
      identity = await this.login(() => this.credentials.verifyRefreshToken(given, this.tokens.service, clientIp(req)), req);
      refreshToken = given; // not rotated: docker keeps using the one it stored
    } else {
      throw OciError.invalidRequest('grant_type must be password or refresh_token', { error: 'unsupported_grant_type' });
    }
    const grants = await this.tokens.grant(identity, parseScopes(strings(form['scope'])));
    await this.answer(req, res, identity, grants, refreshToken, true);
    this.metrics.tokenIssued(grantType);
  }

  /** The public signing key, for services that verify our tokens. */
  @Get('/.well-known/jwks.json')
  jwks(@Res() res: Response): void {
    this.requireTokenAuth();
    res.status(200).set('Cache-Control', 'public, max-age=300').json({ keys: [this.keys.publicJwk] });
  }

  private async login(verify: () => Promise<Identity>, req: Request): Promise<Identity> {
    try {
      return await verify();
    } catch (error) {
      if (error instanceof OciError && error.status === 401) throw this.unauthorized(req, error.message);
      throw error;
    }
  }

  private async answer(req: Request, res: Response, identity: Identity | undefined, grants: Grant[], refreshToken: string | undefined, oauth: boolean): Promise<void> {
    (req as Request & PrincipalRequest).principal = identity ? { kind: 'basic', identity } : { kind: 'anonymous' }; // who the request log names
    const issued = await this.tokens.issue(identity, grants);
    if (identity) {
      this.audit.record({
        type: 'login',
        actor: identity.name,
        clientIp: clientIp(req),
        outcome: 'success',
        detail: { via: oauth ? 'oauth' : 'token', accessToken: identity.accessToken?.id, scopes: grants.map(formatScope) },
      });
    }
    res
      .status(200)
      .set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' })
      .json({
        token: issued.token,
        access_token: issued.token,
        expires_in: issued.expiresIn,
        issued_at: issued.issuedAt,
        ...(oauth && { scope: grants.map(formatScope).join(' ') }),
        ...(refreshToken !== undefined && { refresh_token: refreshToken }),
      });
  }

  private requireTokenAuth(): void {
    if (this.config.auth.mode !== 'token') throw OciError.notFound('token endpoint (REGISTRY_AUTH=none)');
  }

  private checkService(service: string | undefined): void {
    if (service !== undefined && service !== this.tokens.service) {
      throw OciError.invalidRequest(`unknown service "${service.slice(0, 100)}"`, { expected: this.tokens.service });
    }
  }

  private unauthorized(req: Request, message: string): OciError {
    return new OciError('UNAUTHORIZED', undefined, 401, { 'WWW-Authenticate': `Basic realm="${this.challenges.realm(req)}"` }, message);
  }
}
