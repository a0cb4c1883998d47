import type { ExecutionContext } from '@nestjs/common';
import { OciError } from '../common/errors/oci-error';
import type { RegistryConfig } from '../config/registry-config';
import { isMetricsTokenValid, METRICS_CHALLENGE, MetricsTokenGuard } from './metrics-token.guard';

const SECRET = 'metrics-secret-0123456789';

function contextWith(authorization?: string): ExecutionContext {
  const req = { headers: authorization === undefined ? {} : { authorization } };
  return { switchToHttp: () => ({ getRequest: () => req }) } as unknown as ExecutionContext;
}

const guardWith = (token?: string): MetricsTokenGuard => new MetricsTokenGuard({ metrics: { token } } as unknown as RegistryConfig);

describe(isMetricsTokenValid.name, () => {
  it.each([
    ['the exact bearer token', `Bearer ${SECRET}`, true],
    ['a lower-case scheme and trailing spaces', `bearer ${SECRET}  `, true],
    ['no header', undefined, false],
    ['an empty header', '', false],
    ['a bearer with no token', 'Bearer ', false],
    ['a wrong token of the same length', `Bearer ${SECRET.slice(0, -1)}X`, false],
    ['a prefix of the token', `Bearer ${SECRET.slice(0, 8)}`, false],
    ['the token with more after it', `Bearer ${SECRET}0`, false],
    ['the token as Basic credentials', `Basic ${Buffer.from(`x:${SECRET}`).toString('base64')}`, false],
    ['the token without a scheme', SECRET, false],
  ])('answers %s: %s', (_, header, expected) => {
    expect(isMetricsTokenValid(SECRET, header)).toBe(expected);
  });
});

describe(MetricsTokenGuard.name, () => {
  it('lets every scrape through when no token is configured', () => {
    expect(guardWith(undefined).canActivate(contextWith())).toBe(true);
    expect(guardWith(undefined).canActivate(contextWith('Bearer anything'))).toBe(true);
  });

  it('lets a scrape with the configured token through', () => {
    expect(guardWith(SECRET).canActivate(contextWith(`Bearer ${SECRET}`))).toBe(true);
  });

  it.each([
    ['no credentials', undefined],
    ['a wrong token', 'Bearer wrong-token-wrong-token'],
  ])('refuses %s with 401 and a metrics Bearer challenge', (_, header) => {
    let thrown: unknown;
    try {
      guardWith(SECRET).canActivate(contextWith(header));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(OciError);
    expect(thrown).toMatchObject({ code: 'UNAUTHORIZED', status: 401, headers: { 'WWW-Authenticate': METRICS_CHALLENGE } });
  });
});
