import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { createHmac, randomBytes } from 'node:crypto';
import { OciError } from '../common/errors/oci-error';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';
import { UnitOfWork } from '../metadata/unit-of-work';
import { MetricsService } from '../metrics/metrics.service';
import type { UserRecord } from '../metadata/stores/user.store';
import { isAccessTokenLive, withAccessToken, type Identity } from '../access/access.types';
import { AuditService } from '../access/audit.service';
import { DUMMY_PASSWORD_HASH, verifyPassword } from '../access/password-hasher';
import { ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, secretHash } from '../access/secrets';
import { clusterEvents } from '../cluster/cluster-events';
import { LoginThrottle } from './login-throttle';

/** Verified passwords are remembered this long (keyed by an HMAC, never the password), so a burst of token requests costs one scrypt. */
const VERIFIED_TTL_MS = 60_000;
const VERIFIED_MAX = 10_000;
/** An address failing this many times the per-user limit, whatever the user names (credential stuffing), is throttled as a whole. */
const ADDRESS_FAILURE_FACTOR = 10;
const ANY_USER = '\u0000any';
/** The cluster topic of login outcomes, so each worker's throttle counts every worker's failures. */
const THROTTLE_TOPIC = 'login-throttle';
interface ThrottleEvent {
  op: 'fail' | 'succeed';
  user: string;
  clientIp: string;
}

export interface BasicCredentials {
  user: string;
  password: string;
}

/** Parses `Authorization: Basic …`; undefined when the header is not Basic or is malformed. */
export function parseBasic(header: string | undefined): BasicCredentials | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

const unauthorized = (message = 'invalid user name or password'): OciError => new OciError('UNAUTHORIZED', undefined, 401, {}, message);

/**
 * Checks credentials: a password, an access token used as the password, or a refresh token.
 * Failures are throttled per user and client address, and per address across every user name
 * at ten times that limit (429 with Retry-After), and audited;
 * unknown users cost the same scrypt as known ones, and every failure answers the same
 * message, so neither timing nor text tells which part was wrong.
 */
@Injectable()
export class CredentialVerifier implements OnModuleDestroy {
  private readonly throttle: LoginThrottle;
  /** Failures per client address across all user names; a success does not reset it (one valid account must not launder a spray). */
  private readonly addressThrottle: LoginThrottle;
  private readonly cacheKey = randomBytes(32);
  private readonly verified = new Map<string, { userId: string; credentialsVersion: number; until: number }>();
  private readonly events = clusterEvents();
  private readonly unsubscribe?: () => void;
  /** Password checks in progress, by credentials and hash (see verifyOnce). */
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(
    @Inject(REGISTRY_CONFIG) config: RegistryConfig,
    private readonly uow: UnitOfWork,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
  ) {
    const auth = config.auth.mode === 'token' ? config.auth : { maxFailures: 5, lockoutMs: 60_000 };
    this.throttle = new LoginThrottle(auth.maxFailures, auth.lockoutMs);
    this.addressThrottle = new LoginThrottle(auth.maxFailures * ADDRESS_FAILURE_FACTOR, auth.lockoutMs);
    // In a cluster every worker counts every worker's failures: the limits are per process, not per worker.
    this.unsubscribe = this.events?.subscribe<ThrottleEvent>(THROTTLE_TOPIC, (e) => {
      if (e.op === 'fail') this.loginFailed(e.user, e.clientIp);
      else this.throttle.succeed(e.user, e.clientIp);
    });
  }

  /** The identity behind Basic credentials (password or access token); throws 401 or 429. */
  async verifyBasic(credentials: BasicCredentials, clientIp: string, via: string): Promise<Identity> {
    const user = credentials.user.slice(0, 100);
    const retryAfter = Math.max(this.throttle.retryAfter(user, clientIp), this.addressThrottle.retryAfter(ANY_USER, clientIp));
    if (retryAfter > 0) {
      this.audit.record({ type: 'login', actor: user, clientIp, outcome: 'denied', detail: { via, reason: 'throttled' } });
      this.metrics.authFailure('throttled');
      throw OciError.tooManyRequests(retryAfter, 'too many failed logins; retry later');
    }
    const identity = credentials.password.startsWith(ACCESS_TOKEN_PREFIX)
      ? await this.checkAccessToken(user, credentials.password)
      : await this.checkPassword(user, credentials.password);
    if (!identity) {
      this.loginFailed(user, clientIp);
      this.events?.publish(THROTTLE_TOPIC, { op: 'fail', user, clientIp } satisfies ThrottleEvent);
      this.audit.record({ type: 'login', actor: user, clientIp, outcome: 'failure', detail: { via } });
      this.metrics.authFailure('bad_credentials');
      throw unauthorized();
    }
    // Every worker hears of every failure, so a worker with no record to clear speaks for all of
    // them: the other workers are told only when there is something to clear, not on every login
    // (a message through the primary to each worker, at thousands of logins a second).
    if (this.throttle.succeed(user, clientIp)) this.events?.publish(THROTTLE_TOPIC, { op: 'succeed', user, clientIp } satisfies ThrottleEvent);
    return identity;
  }

  private loginFailed(user: string, clientIp: string): void {
    this.throttle.fail(user, clientIp);
    this.addressThrottle.fail(ANY_USER, clientIp);
  }

  onModuleDestroy(): void {
    this.unsubscribe?.();
  }

  /** The identity a refresh token stands for, if it is live for `service`; throws 401 otherwise. */
  async verifyRefreshToken(token: string, service: string, clientIp: string): Promise<Identity> {
    const record = token.startsWith(REFRESH_TOKEN_PREFIX) ? await this.uow.stores.refreshTokens.findByHash(secretHash(token)) : undefined;
    const user = record && !record.revokedAt && record.service === service ? await this.uow.stores.users.findById(record.userId) : undefined;
    let identity = user && !user.disabled && user.credentialsVersion === record!.credentialsVersion ? await this.identity(user) : undefined;
    if (identity && record!.accessTokenId) {
      const accessToken = await this.uow.stores.accessTokens.findById(record!.accessTokenId);
      identity = accessToken && isAccessTokenLive(accessToken) ? withAccessToken(identity, accessToken) : undefined;
    }
    if (!identity) {
      this.audit.record({ type: 'login', actor: user?.name, clientIp, outcome: 'failure', detail: { via: 'refresh_token' } });
      this.metrics.authFailure('invalid_token');
      throw unauthorized('invalid or revoked refresh token');
    }
    void this.uow.stores.refreshTokens.touch(record!.id, Date.now()).catch(() => undefined);
    return identity;
  }

  private async checkPassword(name: string, password: string): Promise<Identity | undefined> {
    const key = createHmac('sha256', this.cacheKey).update(name).update('\u0000').update(password).digest('base64url');
    const user = await this.uow.stores.users.findByName(name);
    const cached = this.verified.get(key);
    const now = Date.now();
    if (cached && user && cached.until > now && cached.userId === user.id && cached.credentialsVersion === user.credentialsVersion && !user.disabled) {
      return this.identity(user);
    }
    if (!(await this.verifyOnce(key, password, user?.passwordHash ?? DUMMY_PASSWORD_HASH)) || !user || user.disabled) return undefined;
    if (this.verified.size >= VERIFIED_MAX) this.verified.clear();
    this.verified.set(key, { userId: user.id, credentialsVersion: user.credentialsVersion, until: now + VERIFIED_TTL_MS });
    return this.identity(user);
  }

  /**
   * scrypt, once for the same credentials checked concurrently against the same hash: a burst
   * of token requests after the cache expired (16 clients at once) waits for one 160 ms hash
   * instead of queueing sixteen behind libuv's four threads.
   */
  private verifyOnce(key: string, password: string, hash: string): Promise<boolean> {
    const flightKey = `${key}\u0000${hash}`;
    let flight = this.inFlight.get(flightKey);
    if (!flight) {
      flight = verifyPassword(password, hash).finally(() => this.inFlight.delete(flightKey));
      this.inFlight.set(flightKey, flight);
    }
    return flight;
  }

  private async checkAccessToken(name: string, secret: string): Promise<Identity | undefined> {
    const token = await this.uow.stores.accessTokens.findBySecretHash(secretHash(secret));
    if (!token || !isAccessTokenLive(token)) return undefined;
    const user = await this.uow.stores.users.findById(token.userId);
    if (!user || user.disabled || user.name !== name) return undefined;
    void this.uow.stores.accessTokens.touch(token.id, Date.now()).catch(() => undefined);
    return withAccessToken(await this.identity(user), token);
  }

  private async identity(user: UserRecord): Promise<Identity> {
    return { userId: user.id, name: user.name, role: user.role, groups: await this.uow.stores.users.groupsOf(user.id) };
  }
}
