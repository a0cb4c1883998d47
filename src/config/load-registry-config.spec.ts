import { getMetadataStorage } from 'class-validator';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ENV_KEYS, EnvSchema } from './env.schema';
import { ConfigError, loadRegistryConfig } from './load-registry-config';

/** The error loadRegistryConfig throws for `env` (fails the test when it does not throw). */
function configErrorFor(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadRegistryConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe(loadRegistryConfig.name, () => {
  describe('defaults', () => {
    const config = loadRegistryConfig({});

    it('listens on 0.0.0.0:3002 over plain HTTP, without a public URL or trusted proxies, with idle (not total) timeouts', () => {
      expect(config.http).toEqual({
        port: 3002,
        host: '0.0.0.0',
        publicUrl: undefined,
        trustProxy: false,
        tls: undefined,
        headersTimeoutMs: 30_000,
        idleTimeoutMs: 120_000,
        maxHeaderBytes: 16_384,
        maxUrlBytes: 8192,
        shutdownTimeoutMs: 30_000,
        maxConcurrentUploads: 0,
      });
    });

    it('logs requests as JSON at level info, is writable and serves /metrics without a secret', () => {
      expect(config.log).toEqual({ level: 'info', requests: true });
      expect(config.readOnly).toBe(false);
      expect(config.metrics).toEqual({ token: undefined });
    });

    it('resolves the data directory ./data to an absolute path', () => {
      expect(config.dataDir).toBe(resolve('./data'));
    });

    it('keeps blobs on the filesystem under <data dir>/storage', () => {
      expect(config.storage).toEqual({ driver: 'filesystem', filesystem: { root: join(resolve('./data'), 'storage') } });
    });

    it('keeps metadata in the SQLite file <data dir>/registry.db', () => {
      expect(config.database).toEqual({ dialect: 'sqlite', filename: join(resolve('./data'), 'registry.db') });
    });

    it('runs token auth (secure by default), with deletes on, a one-hour upload timeout and a 4 MiB manifest cap', () => {
      expect(config.auth).toEqual({
        mode: 'token',
        adminPassword: undefined,
        service: 'nest-oci-registry',
        issuer: 'nest-oci-registry',
        tokenTtlSeconds: 300,
        keyFile: undefined,
        policiesFile: resolve('./config/policies.json'),
        maxFailures: 5,
        lockoutMs: 60_000,
      });
      expect(config.audit).toEqual({ retentionMs: 90 * 86_400_000 });
      expect(config.deleteEnabled).toBe(true);
      expect(config.uploadTimeoutMs).toBe(3_600_000);
      expect(config.manifestMaxBytes).toBe(4 * 1024 * 1024);
    });

    it('is frozen, nested objects included', () => {
      expect(Object.isFrozen(config)).toBe(true);
      expect(Object.isFrozen(config.http)).toBe(true);
      expect(Object.isFrozen(config.storage.filesystem)).toBe(true);
      expect(Object.isFrozen(config.database)).toBe(true);
    });

    it('treats empty values as unset', () => {
      expect(loadRegistryConfig({ PORT: '', REGISTRY_PUBLIC_URL: '', REGISTRY_DELETE_ENABLED: '', DATABASE_URL: '' })).toEqual(config);
    });

    it('ignores variables it does not know', () => {
      expect(loadRegistryConfig({ PATH: '/usr/bin', HOME: '/root', REGISTRY_SOMETHING_ELSE: 'x' })).toEqual(config);
    });
  });

  describe('values', () => {
    it('reads PORT, HOST and the numeric settings', () => {
      const config = loadRegistryConfig({ PORT: '5000', HOST: '127.0.0.1', REGISTRY_UPLOAD_TIMEOUT: '60', REGISTRY_MANIFEST_MAX_BYTES: '8000000' });
      expect(config.http.port).toBe(5000);
      expect(config.http.host).toBe('127.0.0.1');
      expect(config.uploadTimeoutMs).toBe(60_000);
      expect(config.manifestMaxBytes).toBe(8_000_000);
    });

    it('accepts port 0 (any free port)', () => {
      expect(loadRegistryConfig({ PORT: '0' }).http.port).toBe(0);
    });

    it('places storage and the database under REGISTRY_DATA_DIR', () => {
      const config = loadRegistryConfig({ REGISTRY_DATA_DIR: '/srv/registry' });
      expect(config.dataDir).toBe('/srv/registry');
      expect(config.storage.filesystem.root).toBe('/srv/registry/storage');
      expect(config.database.filename).toBe('/srv/registry/registry.db');
    });

    it('strips trailing slashes from REGISTRY_PUBLIC_URL', () => {
      expect(loadRegistryConfig({ REGISTRY_PUBLIC_URL: 'https://registry.example.com/' }).http.publicUrl).toBe('https://registry.example.com');
      expect(loadRegistryConfig({ REGISTRY_PUBLIC_URL: 'http://localhost:5000//' }).http.publicUrl).toBe('http://localhost:5000');
    });

    it.each([
      ['true', true],
      ['TRUE', true],
      ['1', true],
      ['yes', true],
      ['on', true],
      [' True ', true],
      ['false', false],
      ['False', false],
      ['0', false],
      ['no', false],
      ['off', false],
    ])('parses the boolean %j as %s', (value, expected) => {
      const config = loadRegistryConfig({ REGISTRY_DELETE_ENABLED: value, REGISTRY_LOG_REQUESTS: value });
      expect(config.deleteEnabled).toBe(expected);
      expect(config.log.requests).toBe(expected);
    });
  });

  describe('DATABASE_URL', () => {
    it.each([
      ['sqlite:// with an absolute path', 'sqlite:///var/lib/registry/meta.db', '/var/lib/registry/meta.db'],
      ['sqlite:// with a relative path', 'sqlite://./meta.db', resolve('./meta.db')],
      ['sqlite: without slashes', 'sqlite:meta.db', resolve('meta.db')],
      ['file:', 'file:/tmp/meta.db', '/tmp/meta.db'],
      ['file://', 'file:///tmp/meta.db', '/tmp/meta.db'],
      ['a bare absolute path', '/tmp/meta.db', '/tmp/meta.db'],
      ['a bare relative path', 'meta/registry.db', resolve('meta/registry.db')],
      ['sqlite://:memory:', 'sqlite://:memory:', ':memory:'],
      ['sqlite::memory:', 'sqlite::memory:', ':memory:'],
    ])('reads %s', (_, url, filename) => {
      expect(loadRegistryConfig({ DATABASE_URL: url }).database).toEqual({ dialect: 'sqlite', filename });
    });

    it('resolves a relative path against the working directory, not the data directory', () => {
      expect(loadRegistryConfig({ DATABASE_URL: 'sqlite://x.db', REGISTRY_DATA_DIR: '/srv/data' }).database.filename).toBe(resolve('x.db'));
    });

    it.each([['postgres://registry:s3cret@db.example.com/registry'], ['mysql://u:s3cret@host/db'], ['https://s3cret@example.com/db']])(
      'refuses the unsupported URL %s, naming DATABASE_URL without leaking credentials',
      (url) => {
        const error = configErrorFor({ DATABASE_URL: url });
        expect(error.message).toContain('DATABASE_URL');
        expect(error.message).not.toContain('s3cret');
      },
    );
  });

  describe('bad values', () => {
    it.each([
      ['PORT', 'abc'],
      ['PORT', '70000'],
      ['PORT', '-1'],
      ['PORT', '1.5'],
      ['REGISTRY_PUBLIC_URL', 'not-a-url'],
      ['REGISTRY_PUBLIC_URL', 'ftp://registry.example.com'],
      ['REGISTRY_PUBLIC_URL', 'registry.example.com'],
      ['REGISTRY_STORAGE_DRIVER', 's3'],
      ['REGISTRY_AUTH', 'basic'],
      ['REGISTRY_DELETE_ENABLED', 'maybe'],
      ['REGISTRY_LOG_REQUESTS', 'verbose'],
      ['REGISTRY_UPLOAD_TIMEOUT', '0'],
      ['REGISTRY_UPLOAD_TIMEOUT', 'soon'],
      ['REGISTRY_MANIFEST_MAX_BYTES', '1000'],
      ['REGISTRY_MANIFEST_MAX_BYTES', String(128 * 1024 * 1024)],
    ])('stops on %s=%j with a message naming the variable and the value as typed', (name, value) => {
      const error = configErrorFor({ [name]: value });
      expect(error.message).toContain('Invalid registry configuration');
      expect(error.message).toContain(`${name}=${JSON.stringify(value)}`);
    });

    it('lists every problem at once, one line each', () => {
      const error = configErrorFor({ PORT: 'abc', REGISTRY_AUTH: 'basic', REGISTRY_DELETE_ENABLED: 'maybe' });
      const lines = error.message.split('\n').slice(1);
      expect(lines).toHaveLength(3);
      expect(lines.map((l) => l.trim().split('=')[0]).sort()).toEqual(['PORT', 'REGISTRY_AUTH', 'REGISTRY_DELETE_ENABLED']);
    });
  });
});

describe('.env.example', () => {
  /** Variables EnvSchema validates, read from class-validator's own metadata (every field has a decorator). */
  const schemaVariables = [
    ...new Set(getMetadataStorage().getTargetValidationMetadatas(EnvSchema, '', true, false).map((m) => m.propertyName)),
  ].sort();

  const examplePath = resolve(__dirname, '../../.env.example');
  /** `VAR=value` and `# VAR=value` lines, as name → { value, commented }. */
  const readExample = (): Map<string, { value: string; commented: boolean }> => {
    const entries = new Map<string, { value: string; commented: boolean }>();
    for (const line of readFileSync(examplePath, 'utf8').split(/\r?\n/)) {
      const match = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
      if (match) entries.set(match[2]!, { value: match[3]!.trim(), commented: match[1] !== undefined });
    }
    return entries;
  };

  it('lists every variable of EnvSchema', () => {
    const listed = readExample();
    expect(schemaVariables.filter((name) => !listed.has(name))).toEqual([]);
  });

  it('lists no variable that EnvSchema does not read', () => {
    expect([...readExample().keys()].filter((name) => !schemaVariables.includes(name))).toEqual([]);
  });

  it('shows the schema default for every variable it sets', () => {
    const defaults = new EnvSchema() as unknown as Record<string, unknown>;
    const mismatched = [...readExample()]
      .filter(([name, { value, commented }]) => !commented && String(defaults[name]) !== value)
      .map(([name, { value }]) => `${name}=${value} (default ${String(defaults[name])})`);
    expect(mismatched).toEqual([]);
  });

  it('loads, uncommented as it is, to the default configuration', () => {
    const env = Object.fromEntries([...readExample()].filter(([, e]) => !e.commented).map(([name, { value }]) => [name, value]));
    expect(loadRegistryConfig(env)).toEqual(loadRegistryConfig({}));
  });

  it('ENV_KEYS names each schema variable exactly once', () => {
    expect([...ENV_KEYS].sort()).toEqual(schemaVariables);
  });
});
