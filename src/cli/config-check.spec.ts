import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRegistryConfig } from '../config/load-registry-config';
import { checkConfiguration, MASK, maskSecrets } from './config-check';

describe(maskSecrets.name, () => {
  it('masks the admin password and the metrics token when they are set', () => {
    const config = loadRegistryConfig({ REGISTRY_ADMIN_PASSWORD: 'hunter2-hunter2', REGISTRY_METRICS_TOKEN: 'metrics-secret-0123456789' });
    const masked = maskSecrets(config) as { auth: Record<string, unknown>; metrics: Record<string, unknown> };
    expect(masked.auth['adminPassword']).toBe(MASK);
    expect(masked.metrics['token']).toBe(MASK);
    expect(JSON.stringify(masked)).not.toContain('hunter2');
    expect(JSON.stringify(masked)).not.toContain('metrics-secret');
  });

  it('shows unset secrets and other unset values as null, so the output says they are unset', () => {
    const masked = maskSecrets(loadRegistryConfig({})) as { auth: Record<string, unknown>; metrics: Record<string, unknown>; http: Record<string, unknown> };
    expect(masked.auth['adminPassword']).toBeNull();
    expect(masked.metrics['token']).toBeNull();
    expect(masked.http['publicUrl']).toBeNull();
  });

  it('keeps what is not secret: key file paths, token lifetimes, numbers, booleans and lists', () => {
    const config = loadRegistryConfig({ REGISTRY_AUTH_TOKEN_KEY_FILE: '/etc/registry/key.pem', REGISTRY_TRUST_PROXY: '127.0.0.1, 10.0.0.0/8' });
    const masked = maskSecrets(config) as { auth: Record<string, unknown>; http: Record<string, unknown> };
    expect(masked.auth['keyFile']).toBe('/etc/registry/key.pem');
    expect(masked.auth['tokenTtlSeconds']).toBe(300);
    expect(masked.http['trustProxy']).toEqual(['127.0.0.1', '10.0.0.0/8']);
    expect(masked.http['port']).toBe(3002);
  });

  it('masks any key named like a secret and credentials inside URLs, wherever they are', () => {
    expect(
      maskSecrets({
        s3: { accessKeySecret: 'abc', sessionToken: 'def', region: 'eu' },
        database: { url: 'postgres://registry:s3cret@db.example.com:5432/registry' },
        refreshTokenTtl: 60,
      }),
    ).toEqual({
      s3: { accessKeySecret: MASK, sessionToken: MASK, region: 'eu' },
      database: { url: 'postgres://***@db.example.com:5432/registry' },
      refreshTokenTtl: 60,
    });
  });

  it('leaves the frozen config itself alone', () => {
    const config = loadRegistryConfig({ REGISTRY_ADMIN_PASSWORD: 'hunter2-hunter2' });
    maskSecrets(config);
    expect(config.auth.mode === 'token' && config.auth.adminPassword).toBe('hunter2-hunter2');
  });
});

describe(checkConfiguration.name, () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'config-check-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the defaults, with a data dir that does not exist yet', () => {
    const check = checkConfiguration({ REGISTRY_DATA_DIR: join(dir, 'data') });
    expect(check).toEqual({ ok: true, config: loadRegistryConfig({ REGISTRY_DATA_DIR: join(dir, 'data') }) });
  });

  it('lists every invalid variable, each by name, as the server would', () => {
    const check = checkConfiguration({ PORT: 'abc', REGISTRY_AUTH: 'basic' });
    expect(check.ok).toBe(false);
    const problems = check.ok ? [] : check.problems;
    expect(problems.map((p) => p.split('=')[0])).toEqual(['PORT', 'REGISTRY_AUTH']);
    expect(problems[0]).toContain('PORT="abc"');
  });

  it('names the variable of a TLS or signing key file it cannot read', () => {
    const check = checkConfiguration({
      REGISTRY_DATA_DIR: dir,
      REGISTRY_TLS_CERT: join(dir, 'missing-cert.pem'),
      REGISTRY_TLS_KEY: join(dir, 'missing-key.pem'),
      REGISTRY_AUTH_TOKEN_KEY_FILE: join(dir, 'missing-signing.pem'),
    });
    expect(check.ok ? [] : check.problems).toEqual([
      `REGISTRY_TLS_CERT: cannot read ${join(dir, 'missing-cert.pem')} (ENOENT)`,
      `REGISTRY_TLS_KEY: cannot read ${join(dir, 'missing-key.pem')} (ENOENT)`,
      `REGISTRY_AUTH_TOKEN_KEY_FILE: cannot read ${join(dir, 'missing-signing.pem')} (ENOENT)`,
    ]);
  });

  it('refuses a seed policies file the first start would refuse', () => {
    const file = join(dir, 'policies.json');
    writeFileSync(file, '{"policies": [{"repository": "*", "user": "*", "permissions": ["fly"]}]}');
    const check = checkConfiguration({ REGISTRY_DATA_DIR: dir, REGISTRY_AUTH_POLICIES_FILE: file });
    expect(check.ok ? [] : check.problems).toEqual([`REGISTRY_AUTH_POLICIES_FILE: ${file}: policies[0].permissions must be a non-empty subset of pull, push, delete`]);
  });

  it('refuses a data dir that is a file', () => {
    const file = join(dir, 'data');
    writeFileSync(file, '');
    expect(checkConfiguration({ REGISTRY_DATA_DIR: file })).toEqual({ ok: false, problems: [`REGISTRY_DATA_DIR: ${file} is not a directory`] });
  });
});
