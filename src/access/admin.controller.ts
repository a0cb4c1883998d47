import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put, Query, Req, UsePipes } from '@nestjs/common';
import { OciError } from '../common/errors/oci-error';
import { parseRepositoryName } from '../common/oci/reference';
import type { GroupRecord } from '../metadata/stores/user.store';
import type { AuditRecord } from '../metadata/stores/audit.store';
import { actorOf, type PrincipalRequest } from './access.types';
import { AccessCheckDto, CreateAccessTokenDto, CreateGroupDto, CreatePolicyDto, CreateUserDto, UpdatePolicyDto, UpdateUserDto } from './admin.dto';
import { adminValidationPipe } from './admin-validation.pipe';
import { AuditService } from './audit.service';
import type { Decision } from './policy-evaluator';
import { PolicyService, toPolicyView, type PolicyView } from './policy.service';
import { RequireAccess } from './require-access.decorator';
import { UserService, type AccessTokenView, type UserView } from './user.service';

const groupView = (g: GroupRecord): { name: string; members: string[]; createdAt: string } => ({
  name: g.name,
  members: g.members,
  createdAt: new Date(g.createdAt).toISOString(),
});

/** Admin REST under /api/v1: users, groups, access tokens, policies, the access check and the audit log. Admin role only. */
@Controller('api/v1')
@RequireAccess('admin')
@UsePipes(adminValidationPipe)
export class AdminController {
  constructor(
    private readonly users: UserService,
    private readonly policies: PolicyService,
    private readonly audit: AuditService,
  ) {}

  // Users

  @Get('users')
  async listUsers(): Promise<{ users: UserView[] }> {
    return { users: await this.users.list() };
  }

  @Post('users')
  createUser(@Body() body: CreateUserDto, @Req() req: PrincipalRequest): Promise<UserView> {
    return this.users.create(body, actorOf(req.principal));
  }

  @Get('users/:name')
  getUser(@Param('name') name: string): Promise<UserView> {
    return this.users.get(name);
  }

  @Patch('users/:name')
  updateUser(@Param('name') name: string, @Body() body: UpdateUserDto, @Req() req: PrincipalRequest): Promise<UserView> {
    if (body.password === undefined && body.role === undefined && body.disabled === undefined) throw OciError.invalidRequest('nothing to update', { fields: {} });
    return this.users.update(name, body, actorOf(req.principal));
  }

  @Delete('users/:name')
  @HttpCode(204)
  deleteUser(@Param('name') name: string, @Req() req: PrincipalRequest): Promise<void> {
    return this.users.delete(name, actorOf(req.principal));
  }

  /** Logs the user out everywhere: every refresh token (docker's stored identity token) dies. */
  @Delete('users/:name/refresh-tokens')
  @HttpCode(204)
  revokeRefreshTokens(@Param('name') name: string, @Req() req: PrincipalRequest): Promise<void> {
    return this.users.revokeRefreshTokens(name, actorOf(req.principal));
  }

  // Access tokens (robot accounts / personal tokens)

  @Get('users/:name/tokens')
  async listTokens(@Param('name') name: string): Promise<{ tokens: AccessTokenView[] }> {
    return { tokens: await this.users.listTokens(name) };
  }

  /** The answer carries `secret`, shown this once and never again. */
  @Post('users/:name/tokens')
  createToken(@Param('name') name: string, @Body() body: CreateAccessTokenDto, @Req() req: PrincipalRequest): Promise<AccessTokenView & { secret: string }> {
    return this.users.createToken(name, body, actorOf(req.principal));
  }

  @Delete('users/:name/tokens/:id')
  @HttpCode(204)
  revokeToken(@Param('name') name: string, @Param('id') id: string, @Req() req: PrincipalRequest): Promise<void> {
    return this.users.revokeToken(name, id, actorOf(req.principal));
  }

  // Groups

  @Get('groups')
  async listGroups(): Promise<{ groups: ReturnType<typeof groupView>[] }> {
    return { groups: (await this.users.listGroups()).map(groupView) };
  }

  @Post('groups')
  async createGroup(@Body() body: CreateGroupDto, @Req() req: PrincipalRequest): Promise<ReturnType<typeof groupView>> {
    return groupView(await this.users.createGroup(body.name, body.members ?? [], actorOf(req.principal)));
  }

  @Get('groups/:name')
  async getGroup(@Param('name') name: string): Promise<ReturnType<typeof groupView>> {
    return groupView(await this.users.getGroup(name));
  }

  @Delete('groups/:name')
  @HttpCode(204)
  deleteGroup(@Param('name') name: string, @Req() req: PrincipalRequest): Promise<void> {
    return this.users.deleteGroup(name, actorOf(req.principal));
  }

  @Put('groups/:name/members/:user')
  async addMember(@Param('name') name: string, @Param('user') user: string, @Req() req: PrincipalRequest): Promise<ReturnType<typeof groupView>> {
    return groupView(await this.users.addMember(name, user, actorOf(req.principal)));
  }

  @Delete('groups/:name/members/:user')
  async removeMember(@Param('name') name: string, @Param('user') user: string, @Req() req: PrincipalRequest): Promise<ReturnType<typeof groupView>> {
    return groupView(await this.users.removeMember(name, user, actorOf(req.principal)));
  }

  // Policies

  @Get('policies')
  async listPolicies(): Promise<{ policies: PolicyView[] }> {
    return { policies: await this.policies.list() };
  }

  @Post('policies')
  createPolicy(@Body() body: CreatePolicyDto, @Req() req: PrincipalRequest): Promise<PolicyView> {
    return this.policies.create(body, actorOf(req.principal));
  }

  @Get('policies/:id')
  getPolicy(@Param('id') id: string): Promise<PolicyView> {
    return this.policies.get(id);
  }

  @Patch('policies/:id')
  updatePolicy(@Param('id') id: string, @Body() body: UpdatePolicyDto, @Req() req: PrincipalRequest): Promise<PolicyView> {
    if (body.repository === undefined && body.user === undefined && body.permissions === undefined) {
      throw OciError.invalidRequest('nothing to update', { fields: {} });
    }
    return this.policies.update(id, body, actorOf(req.principal));
  }

  @Delete('policies/:id')
  @HttpCode(204)
  deletePolicy(@Param('id') id: string, @Req() req: PrincipalRequest): Promise<void> {
    return this.policies.delete(id, actorOf(req.principal));
  }

  /** Whether a user (or `anonymous`) may do an action on a repository, and which policy decided. */
  @Post('access/check')
  @HttpCode(200)
  async check(@Body() body: AccessCheckDto): Promise<Omit<Decision, 'policy'> & { user: string; repository: string; action: string; policy: PolicyView | null }> {
    const decision = await this.policies.check(body.user, parseRepositoryName(body.repository), body.action);
    return { user: body.user, repository: body.repository, action: body.action, ...decision, policy: decision.policy ? toPolicyView(decision.policy) : null };
  }

  // Audit log

  /** Events newest first; `?before=<id>` pages on, filters `type`, `actor`, `repository`, `outcome`, `since` (ISO time). */
  @Get('audit')
  async auditLog(@Query() q: Record<string, string | undefined>): Promise<{ events: (Omit<AuditRecord, 'at'> & { at: string })[]; next: number | null }> {
    const limit = Math.min(Math.max(Number.parseInt(q['limit'] ?? '100', 10) || 100, 1), 1000);
    const since = q['since'] === undefined ? undefined : Date.parse(q['since']);
    if (since !== undefined && Number.isNaN(since)) throw OciError.invalidRequest('since must be an ISO 8601 time', { fields: { since: ['invalid date'] } });
    const before = q['before'] === undefined ? undefined : Number.parseInt(q['before'], 10);
    const outcome = q['outcome'];
    if (outcome !== undefined && !['success', 'failure', 'denied'].includes(outcome)) throw OciError.invalidRequest('outcome must be success, failure or denied');
    const events = await this.audit.query({
      type: q['type'],
      actor: q['actor'],
      repository: q['repository'],
      outcome: outcome as AuditRecord['outcome'] | undefined,
      since,
      before: Number.isFinite(before) ? before : undefined,
      limit,
    });
    return {
      events: events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
      next: events.length === limit ? events[events.length - 1]!.id : null,
    };
  }
}
