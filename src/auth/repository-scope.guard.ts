import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { OciError } from '../common/errors/oci-error';
import { v2PathOf, type V2Request } from '../common/oci/v2-path';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';
import { actorOf, type Principal, type PrincipalRequest, type RegistryAction, type RouteAccess } from '../access/access.types';
import { AuditService } from '../access/audit.service';
import { PolicyService } from '../access/policy.service';
import { ROUTE_ACCESS } from '../access/require-access.decorator';
import { MetricsService } from '../metrics/metrics.service';
import { AuthChallenge } from './auth-challenge';
import { PrincipalAccess } from './principal-access.service';
import { clientIp, PrincipalResolver } from './principal.resolver';

type GuardedRequest = Request & V2Request & PrincipalRequest;

/**
 * The one gate in front of every route (APP_GUARD). A route without `@RequireAccess` is
 * refused: new endpoints fail closed. Pull for GET/HEAD, push (which also needs pull, as in
 * distribution) for POST/PATCH/PUT, delete for DELETE; the mount source is checked by the
 * upload controller, which falls back to a normal upload without it.
 *
 * No credentials or an insufficient registry token → 401 with a Bearer challenge naming the
 * scope (`error="insufficient_scope"` when a token was sent), so clients fetch a token. Basic
 * credentials that the policies refuse → 403 DENIED (the refusal is final). Admin routes take
 * an admin's Basic credentials or a token granting `registry:admin:*`.
 *
 * Successful manifest pushes and deletes are audited here too, when their response is sent:
 * this is the one place that sees both the principal and the route.
 */
@Injectable()
export class RepositoryScopeGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
    private readonly resolver: PrincipalResolver,
    private readonly challenges: AuthChallenge,
    private readonly policies: PolicyService,
    private readonly principals: PrincipalAccess,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const access = this.reflector.getAllAndOverride<RouteAccess | undefined>(ROUTE_ACCESS, [context.getHandler(), context.getClass()]);
    if (access === undefined) throw new Error(`${context.getClass().name}.${context.getHandler().name} has no @RequireAccess rule`);
    if (access === 'public') return true;
    const req = context.switchToHttp().getRequest<GuardedRequest>();
    if (this.config.auth.mode === 'none') {
      req.principal = { kind: 'open' };
      if (this.config.readOnly && (access === 'push' || access === 'delete')) throw OciError.readOnly();
      return true;
    }
    const principal = await this.resolver.resolve(req);
    req.principal = principal;
    switch (access) {
      case 'authenticated':
        if (principal.kind === 'anonymous') throw this.challenge(req, []);
        return true;
      case 'admin':
        if (await this.principals.isAdmin(principal)) return true;
        throw this.refuse(req, principal, ['registry:admin:*']);
      case 'catalog':
        if (principal.kind === 'basic') return true;
        if (principal.kind === 'bearer' && principal.grants.some((g) => g.type === 'registry' && g.name === 'catalog' && g.actions.includes('*'))) return true;
        throw this.refuse(req, principal, ['registry:catalog:*']);
      default:
        return this.checkRepository(req, context.switchToHttp().getResponse<Response>(), principal, access);
    }
  }

  private async checkRepository(req: GuardedRequest, res: Response, principal: Principal, action: RegistryAction): Promise<boolean> {
    const path = v2PathOf(req);
    if (!path) throw new OciError('UNSUPPORTED', undefined, 404, {}, 'no such route');
    const needed: RegistryAction[] = action === 'push' ? ['pull', 'push'] : [action];
    let missing: RegistryAction[];
    if (principal.kind === 'bearer') {
      const grant = principal.grants.find((g) => g.type === 'repository' && g.name === path.name);
      missing = needed.filter((a) => !grant?.actions.includes(a) && !grant?.actions.includes('*'));
    } else if (principal.kind === 'basic') {
      const allowed = await this.policies.allowedActions(principal.identity, path.name);
      missing = needed.filter((a) => !allowed.includes(a));
    } else {
      missing = needed;
    }
    if (missing.length > 0) throw this.refuse(req, principal, [`repository:${path.name}:${needed.join(',')}`], path.name, needed.join(','));
    if (this.config.readOnly && action !== 'pull') throw OciError.readOnly();
    if ((path.kind === 'manifest' && (req.method === 'PUT' || req.method === 'DELETE')) || (path.kind === 'blob' && req.method === 'DELETE')) {
      const type = `${path.kind}.${req.method === 'PUT' ? 'push' : 'delete'}`;
      res.once('finish', () => {
        if (res.statusCode < 300) this.audit.record({ type, actor: actorOf(principal), clientIp: clientIp(req), repository: path.name, action, outcome: 'success', detail: { reference: path.ref } });
      });
    }
    return true;
  }

  /** The error for a principal that lacks `scopes`: a challenge to fetch a token, or a final 403 for Basic credentials. */
  private refuse(req: GuardedRequest, principal: Principal, scopes: string[], repository?: string, action?: string): OciError {
    if (principal.kind === 'anonymous') return this.challenge(req, scopes);
    this.metrics.authFailure(principal.kind === 'basic' ? 'denied' : 'insufficient_scope');
    this.audit.record({
      type: 'access.denied',
      actor: actorOf(principal),
      clientIp: clientIp(req),
      repository,
      action,
      outcome: 'denied',
      detail: { method: req.method, path: req.path.slice(0, 300), scopes },
    });
    if (principal.kind === 'basic') return new OciError('DENIED', { scopes });
    return new OciError('UNAUTHORIZED', { scopes }, 401, { 'WWW-Authenticate': this.challenges.bearer(req, scopes, 'insufficient_scope') }, 'the token does not grant this access');
  }

  private challenge(req: GuardedRequest, scopes: string[]): OciError {
    return new OciError('UNAUTHORIZED', scopes.length > 0 ? { scopes } : undefined, 401, { 'WWW-Authenticate': this.challenges.bearer(req, scopes) });
  }
}
