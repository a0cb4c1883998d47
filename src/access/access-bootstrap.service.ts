import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';
import { UnitOfWork } from '../metadata/unit-of-work';
import { REGISTRY_ACTIONS, type RegistryAction } from './access.types';
import { PolicyService, type PolicyInput } from './policy.service';
import { REPOSITORY_GLOB } from './repository-glob';
import { UserService } from './user.service';
import { OciError } from '../common/errors/oci-error';

/** The seed when no policies file exists: every logged-in user may pull, push and delete everything. */
const DEFAULT_POLICIES: PolicyInput[] = [{ repository: '*', user: '*', permissions: ['pull', 'push', 'delete'] }];

export const POLICY_SUBJECT = /^(?:\*|anonymous|group:[a-z0-9][a-z0-9._-]{0,63}|[a-z0-9][a-z0-9._-]{0,63})$/;

/** Reads and checks the seed policies file (`{"policies":[…]}` or a bare array); throws naming the file and entry. */
export function readPolicySeed(file: string): PolicyInput[] {
  if (!existsSync(file)) return DEFAULT_POLICIES;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file}: not valid JSON (${(error as Error).message})`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { policies?: unknown })?.policies;
  if (!Array.isArray(list)) throw new Error(`${file}: expected {"policies": [...]} or an array`);
  return list.map((entry: unknown, i) => {
    const p = (entry ?? {}) as Partial<PolicyInput>; // a null entry is refused below, not a TypeError
    const where = `${file}: policies[${i}]`;
    if (typeof p.repository !== 'string' || !REPOSITORY_GLOB.test(p.repository)) throw new Error(`${where}.repository must be a repository glob`);
    if (typeof p.user !== 'string' || !POLICY_SUBJECT.test(p.user)) throw new Error(`${where}.user must be a user name, group:<name>, * or anonymous`);
    if (!Array.isArray(p.permissions) || p.permissions.length === 0 || !p.permissions.every((a) => REGISTRY_ACTIONS.includes(a))) {
      throw new Error(`${where}.permissions must be a non-empty subset of ${REGISTRY_ACTIONS.join(', ')}`);
    }
    return { repository: p.repository, user: p.user, permissions: p.permissions as RegistryAction[] };
  });
}

/**
 * First start with token auth: creates `admin` when no user exists (password from
 * REGISTRY_ADMIN_PASSWORD, or a random one printed once and written to
 * `<data dir>/initial-admin-password`, mode 0600) and seeds the policies. With
 * `REGISTRY_AUTH=none` it only warns, loudly.
 */
@Injectable()
export class AccessBootstrapService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Auth');

  constructor(
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
    private readonly uow: UnitOfWork,
    private readonly users: UserService,
    private readonly policies: PolicyService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const auth = this.config.auth;
    if (auth.mode === 'none') {
      this.logger.warn('REGISTRY_AUTH=none: NO AUTHENTICATION. Anyone who can reach this port can push, pull, delete and run admin endpoints. Development only.');
      return;
    }
    const seed = readPolicySeed(auth.policiesFile);
    if ((await this.uow.stores.users.count()) === 0) await this.createAdmin(auth.adminPassword);
    const seeded = await this.policies.seed(seed);
    if (seeded > 0) this.logger.log(`seeded ${seeded} access ${seeded === 1 ? 'policy' : 'policies'} from ${existsSync(auth.policiesFile) ? auth.policiesFile : 'the built-in default'}`);
  }

  private async createAdmin(configured: string | undefined): Promise<void> {
    const password = configured ?? randomBytes(18).toString('base64url');
    try {
      await this.users.create({ name: 'admin', password, role: 'admin' }, 'system');
    } catch (error) {
      if (error instanceof OciError && error.code === 'CONFLICT') return; // another replica created it first
      throw error;
    }
    if (configured !== undefined) {
      this.logger.log('created user "admin" with the password from REGISTRY_ADMIN_PASSWORD');
      return;
    }
    mkdirSync(this.config.dataDir, { recursive: true });
    const file = join(this.config.dataDir, 'initial-admin-password');
    writeFileSync(file, `${password}\n`, { mode: 0o600 });
    // Printed this once, on purpose: the operator needs it to log in the first time.
    this.logger.warn(`created user "admin" with password ${password} (also in ${file}, mode 0600; change it and delete the file)`);
  }
}
