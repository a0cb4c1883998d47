/**
 * `registry config check`: the environment validated by the server's own loadRegistryConfig,
 * plus the files the server reads at start-up (TLS, signing key, seed policies, data dir),
 * so that a systemd unit or a container is known good before it starts. The effective
 * configuration is printed with its secrets masked.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { readPolicySeed } from '../access/access-bootstrap.service';
import { ConfigError, loadRegistryConfig } from '../config/load-registry-config';
import type { RegistryConfig } from '../config/registry-config';

export const MASK = '********';

/**
 * Keys holding secrets, whatever their place in the config: `adminPassword`, `metrics.token`,
 * and, so that a secret added later is masked before anyone remembers this list, any key
 * named like a password, secret, credential or token (but not `tokenTtlSeconds`: a key
 * *ending* in token). Key files are paths, not secrets, and are shown.
 */
const SECRET_KEY = /password|secret|credential|token$|privatekey/i;

/** `scheme://user:password@host` → `scheme://***@host` (DATABASE_URL of a server database, say). */
const URL_CREDENTIALS = /^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i;

/**
 * A plain copy of `value` for printing: secret keys masked (when set), credentials in URLs
 * masked, unset values shown as null (JSON would drop them).
 */
export function maskSecrets(value: unknown, key = ''): unknown {
  if (value === undefined || value === null) return null;
  if (SECRET_KEY.test(key)) return MASK;
  if (typeof value === 'string') return value.replace(URL_CREDENTIALS, '$1***@');
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v));
  if (typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v, k)]));
  return value;
}

export type ConfigCheck = { ok: true; config: RegistryConfig } | { ok: false; problems: string[] };

function readable(file: string, what: string, problems: string[]): void {
  try {
    accessSync(file, constants.R_OK);
  } catch (error) {
    problems.push(`${what}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** The files a start would read or write, each problem naming its variable. */
function checkFiles(config: RegistryConfig): string[] {
  const problems: string[] = [];
  if (config.http.tls) {
    readable(config.http.tls.certFile, 'REGISTRY_TLS_CERT', problems);
    readable(config.http.tls.keyFile, 'REGISTRY_TLS_KEY', problems);
  }
  if (config.auth.mode === 'token') {
    if (config.auth.keyFile !== undefined) readable(config.auth.keyFile, 'REGISTRY_AUTH_TOKEN_KEY_FILE', problems);
    try {
      readPolicySeed(config.auth.policiesFile); // an absent file is fine: the built-in seed
    } catch (error) {
      problems.push(`REGISTRY_AUTH_POLICIES_FILE: ${(error as Error).message}`);
    }
  }
  // An absent data dir is created by the first start; an existing one must be a writable directory.
  if (existsSync(config.dataDir)) {
    if (!statSync(config.dataDir).isDirectory()) problems.push(`REGISTRY_DATA_DIR: ${config.dataDir} is not a directory`);
    else {
      try {
        accessSync(config.dataDir, constants.R_OK | constants.W_OK | constants.X_OK);
      } catch {
        problems.push(`REGISTRY_DATA_DIR: ${config.dataDir} is not writable by this user`);
      }
    }
  }
  return problems;
}

/** Validates `env` as the server does at start-up; never throws for a configuration problem. */
export function checkConfiguration(env: NodeJS.ProcessEnv): ConfigCheck {
  let config: RegistryConfig;
  try {
    config = loadRegistryConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // "Invalid registry configuration:\n  A=…\n  B=…": one problem a line.
    return { ok: false, problems: error.message.split('\n').slice(1).map((line) => line.trim()) };
  }
  const problems = checkFiles(config);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config };
}
