import { Injectable } from '@nestjs/common';
import { isAccessTokenLive, mayAdminister, withAccessToken, type Identity, type Principal } from '../access/access.types';
import { PolicyService } from '../access/policy.service';
import { UserService } from '../access/user.service';
import { UnitOfWork } from '../metadata/unit-of-work';

const ALL = (): boolean => true;
const NONE = (): boolean => false;

/**
 * Questions about a request's principal that go beyond the route's own scope: may it read
 * the source of a cross-repository mount, and which repositories may it see in the catalog
 * or mount from without naming them.
 */
@Injectable()
export class PrincipalAccess {
  constructor(
    private readonly policies: PolicyService,
    private readonly users: UserService,
    private readonly uow: UnitOfWork,
  ) {}

  /**
   * May the principal pull `repository` as the source of a mount? With a registry token the
   * token itself must grant it (clients ask for `repository:<from>:pull` for this); with Basic
   * credentials the policies decide.
   */
  async mayPull(principal: Principal | undefined, repository: string): Promise<boolean> {
    if (!principal) return false;
    switch (principal.kind) {
      case 'open':
        return true;
      case 'anonymous':
        return (await this.policies.allowedActions('anonymous', repository)).includes('pull');
      case 'bearer':
        return principal.grants.some((g) => g.type === 'repository' && g.name === repository && g.actions.includes('pull'));
      case 'basic':
        return (await this.policies.allowedActions(principal.identity, repository)).includes('pull');
    }
  }

  /**
   * A predicate over repository names: those the principal's user may pull under the current
   * policies (and the limits of the access token it logged in with). One policy read, for
   * listing the catalog and for mounts that do not name their source.
   */
  async pullFilter(principal: Principal | undefined): Promise<(repository: string) => boolean> {
    if (!principal) return NONE;
    switch (principal.kind) {
      case 'open':
        return ALL;
      case 'anonymous':
        return this.policies.pullFilter('anonymous');
      case 'basic':
        return this.policies.pullFilter(principal.identity);
      case 'bearer': {
        if (principal.subject === '') return this.policies.pullFilter('anonymous');
        const identity = await this.identityOfToken(principal.subject, principal.accessTokenId);
        return identity ? this.policies.pullFilter(identity) : NONE;
      }
    }
  }

  /** The live identity behind a token's subject: none when the user was disabled or deleted, or its access token revoked. */
  private async identityOfToken(subject: string, accessTokenId: string | undefined): Promise<Identity | undefined> {
    const identity = await this.users.identityOf(subject);
    if (!identity || accessTokenId === undefined) return identity;
    const token = await this.uow.stores.accessTokens.findById(accessTokenId);
    if (!token || token.userId !== identity.userId || !isAccessTokenLive(token)) return undefined;
    return withAccessToken(identity, token);
  }

  /** Whether the principal is an admin right now (live: a demoted or disabled admin's token stops working at once). */
  async isAdmin(principal: Principal): Promise<boolean> {
    switch (principal.kind) {
      case 'open':
        return true;
      case 'anonymous':
        return false;
      case 'basic':
        return mayAdminister(principal.identity);
      case 'bearer': {
        if (!principal.grants.some((g) => g.type === 'registry' && g.name === 'admin' && g.actions.includes('*'))) return false;
        return mayAdminister(await this.identityOfToken(principal.subject, principal.accessTokenId));
      }
    }
  }
}
