import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { EnvSchema } from './env.schema';
import type { RegistryConfig } from './registry-config';

export class ConfigError extends Error {}

/** Each problem with the value as the operator typed it (after coercion `abc` would read as `null`). */
function describe(errors: ValidationError[], raw: Record<string, unknown>): string[] {
  return errors.map((e) => `${e.property}=${JSON.stringify(raw[e.property] ?? e.value)}: ${Object.values(e.constraints ?? {}).join('; ')}`);
}

/** Turns `DATABASE_URL` into a SQLite file name (`sqlite://path`, `sqlite:path`, `file:path` or a bare path). */
function sqliteFilename(url: string | undefined, dataDir: string): string {
  if (!url) return resolve(dataDir, 'registry.db');
  const match = /^(?:sqlite|file):(?:\/\/)?(.*)$/.exec(url);
  if (match) return match[1] === ':memory:' ? ':memory:' : resolve(match[1]!);
  if (/^[a-z]+:\/\//i.test(url)) throw new ConfigError(`Invalid registry configuration:\n  DATABASE_URL: unsupported scheme in "${url.replace(/\/\/[^@]*@/, '//***@')}" (sqlite only for now)`);
  return resolve(url);
}

/** `REGISTRY_TRUST_PROXY` as Express takes it: a boolean, a hop count, or a list of addresses/subnets. */
function parseTrustProxy(value: string): boolean | number | string[] {
  const v = value.trim();
  if (v === 'true' || v === 'false') return v === 'true';
  if (/^\d+$/.test(v)) return Number(v);
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * Validates the environment once, at start-up, and returns the nested, read-only config.
 * Every problem is listed, each naming its variable; the caller stops the process.
 */
export function loadRegistryConfig(raw: NodeJS.ProcessEnv): RegistryConfig {
  const present = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined && v !== ''));
  const env = plainToInstance(EnvSchema, present, { exposeDefaultValues: true });
  const problems = describe(validateSync(env, { forbidUnknownValues: false }), present);
  if (problems.length > 0) throw new ConfigError(`Invalid registry configuration:\n  ${problems.join('\n  ')}`);
  const dataDir = resolve(env.REGISTRY_DATA_DIR);
  const publicUrl = env.REGISTRY_PUBLIC_URL?.replace(/\/+$/, '');
  return Object.freeze({
    http: Object.freeze({
      port: env.PORT,
      host: env.HOST,
      publicUrl,
      trustProxy: parseTrustProxy(env.REGISTRY_TRUST_PROXY),
      tls:
        env.REGISTRY_TLS_CERT !== undefined && env.REGISTRY_TLS_KEY !== undefined
          ? Object.freeze({ certFile: resolve(env.REGISTRY_TLS_CERT), keyFile: resolve(env.REGISTRY_TLS_KEY) })
          : undefined,
      headersTimeoutMs: env.REGISTRY_HEADERS_TIMEOUT * 1000,
      idleTimeoutMs: env.REGISTRY_IDLE_TIMEOUT * 1000,
      maxHeaderBytes: env.REGISTRY_MAX_HEADER_BYTES,
      maxUrlBytes: env.REGISTRY_MAX_URL_BYTES,
      shutdownTimeoutMs: env.REGISTRY_SHUTDOWN_TIMEOUT * 1000,
      maxConcurrentUploads: env.REGISTRY_MAX_CONCURRENT_UPLOADS,
    }),
    log: Object.freeze({ level: env.REGISTRY_LOG_LEVEL, requests: env.REGISTRY_LOG_REQUESTS }),
    workers: env.REGISTRY_WORKERS === 0 ? availableParallelism() : env.REGISTRY_WORKERS,
    readOnly: env.REGISTRY_READ_ONLY,
    metrics: Object.freeze({ token: env.REGISTRY_METRICS_TOKEN }),
    dataDir,
    storage: Object.freeze({ driver: env.REGISTRY_STORAGE_DRIVER, filesystem: Object.freeze({ root: resolve(dataDir, 'storage') }) }),
    database: Object.freeze({ dialect: 'sqlite' as const, filename: sqliteFilename(env.DATABASE_URL, dataDir) }),
    auth: Object.freeze(
      env.REGISTRY_AUTH === 'none'
        ? { mode: 'none' as const }
        : {
            mode: 'token' as const,
            adminPassword: env.REGISTRY_ADMIN_PASSWORD,
            service: env.REGISTRY_AUTH_SERVICE,
            issuer: env.REGISTRY_AUTH_ISSUER,
            tokenTtlSeconds: env.REGISTRY_AUTH_TOKEN_TTL,
            keyFile: env.REGISTRY_AUTH_TOKEN_KEY_FILE === undefined ? undefined : resolve(env.REGISTRY_AUTH_TOKEN_KEY_FILE),
            policiesFile: resolve(env.REGISTRY_AUTH_POLICIES_FILE),
            maxFailures: env.REGISTRY_AUTH_MAX_FAILURES,
            lockoutMs: env.REGISTRY_AUTH_LOCKOUT * 1000,
          },
    ),
    audit: Object.freeze({ retentionMs: env.REGISTRY_AUDIT_RETENTION_DAYS * 86_400_000 }),
    deleteEnabled: env.REGISTRY_DELETE_ENABLED,
    uploadTimeoutMs: env.REGISTRY_UPLOAD_TIMEOUT * 1000,
    manifestMaxBytes: env.REGISTRY_MANIFEST_MAX_BYTES,
    gc: Object.freeze({
      graceMs: env.REGISTRY_GC_GRACE * 1000,
      intervalMs: env.REGISTRY_GC_INTERVAL * 1000,
      deleteUntagged: env.REGISTRY_GC_DELETE_UNTAGGED,
    }),
  });
}
