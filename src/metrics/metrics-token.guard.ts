import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { OciError } from '../common/errors/oci-error';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';

/** The challenge of a refused scrape: the metrics secret is not a registry credential. */
export const METRICS_CHALLENGE = 'Bearer realm="metrics"';

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * True when `authorization` is `Bearer <expected>`. Both sides are hashed first, so
 * timingSafeEqual compares equal-length buffers and the time taken tells nothing about the
 * secret, its length included.
 */
export function isMetricsTokenValid(expected: string, authorization: string | undefined): boolean {
  const match = /^Bearer\s+(.+?)\s*$/i.exec(authorization ?? '');
  return timingSafeEqual(sha256(match?.[1] ?? ''), sha256(expected)) && match !== null;
}

/**
 * REGISTRY_METRICS_TOKEN: when set, /metrics needs `Authorization: Bearer <token>` (401
 * with a `metrics` challenge otherwise); unset, /metrics is open. Runs after the global
 * guard, which lets the route through as `public`: this secret is its own check.
 */
@Injectable()
export class MetricsTokenGuard implements CanActivate {
  constructor(@Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.config.metrics.token;
    if (expected === undefined) return true;
    const req = context.switchToHttp().getRequest<Request>();
    if (isMetricsTokenValid(expected, req.headers.authorization)) return true;
    throw new OciError('UNAUTHORIZED', undefined, 401, { 'WWW-Authenticate': METRICS_CHALLENGE }, 'the metrics token is missing or wrong');
  }
}
