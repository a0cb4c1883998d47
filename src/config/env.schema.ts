import 'reflect-metadata'; // @Type reads design:type metadata when the class is declared
import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsDefined, IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Max, Min, MinLength, ValidateIf } from 'class-validator';

const toBoolean = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  return value; // left as a string: @IsBoolean reports it
};

/**
 * Every environment variable the registry reads, flat and string-shaped as operators type
 * them. Defaults here are the documented defaults; `.env.example` mirrors this class (a unit
 * test keeps the two in sync).
 */
export class EnvSchema {
  /** TCP port to listen on. */
  @Type(() => Number) @IsInt() @Min(0) @Max(65535)
  PORT = 3002;

  /** Address to bind. */
  @IsString() @MinLength(1)
  HOST = '0.0.0.0';

  /** Directory holding blobs (`storage/`) and the SQLite database. */
  @IsString() @MinLength(1)
  REGISTRY_DATA_DIR = './data';

  /** Public base URL (scheme://host[:port]) used in absolute URLs; empty: relative Location headers. */
  @IsOptional() @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  REGISTRY_PUBLIC_URL?: string;

  /** Blob storage driver. */
  @IsIn(['filesystem'])
  REGISTRY_STORAGE_DRIVER: 'filesystem' = 'filesystem';

  /** Metadata database URL; default `sqlite://<data dir>/registry.db`. */
  @IsOptional() @IsString()
  DATABASE_URL?: string;

  /** `token` (Docker token auth, the default) or `none` (no authentication, development only). */
  @IsIn(['token', 'none'])
  REGISTRY_AUTH: 'token' | 'none' = 'token';

  /** Password for the `admin` user created on first start; unset: a random one, printed once and saved. */
  @IsOptional() @IsString() @MinLength(8)
  REGISTRY_ADMIN_PASSWORD?: string;

  /** The token service name (JWT audience, `service` in challenges). */
  @IsString() @Matches(/^[\x21\x23-\x5b\x5d-\x7e]+$/, { message: 'must be printable ASCII without spaces, quotes or backslashes' })
  REGISTRY_AUTH_SERVICE = 'nest-oci-registry';

  /** The token issuer (JWT `iss`). */
  @IsString() @MinLength(1)
  REGISTRY_AUTH_ISSUER = 'nest-oci-registry';

  /** Lifetime of issued registry tokens, in seconds (clients re-ask after it). */
  @Type(() => Number) @IsInt() @Min(60) @Max(86_400)
  REGISTRY_AUTH_TOKEN_TTL = 300;

  /** PEM private key (EC P-256 → ES256, RSA → RS256) signing tokens; unset: generated into <data dir>/auth/. */
  @IsOptional() @IsString()
  REGISTRY_AUTH_TOKEN_KEY_FILE?: string;

  /** JSON file of policies seeded on first start (when the database has none). */
  @IsString() @MinLength(1)
  REGISTRY_AUTH_POLICIES_FILE = './config/policies.json';

  /** Failed logins per user and client address before logins are refused for a while. */
  @Type(() => Number) @IsInt() @Min(1)
  REGISTRY_AUTH_MAX_FAILURES = 5;

  /** Seconds logins stay refused after too many failures (doubling while failures go on, up to 1 hour). */
  @Type(() => Number) @IsInt() @Min(1) @Max(3600)
  REGISTRY_AUTH_LOCKOUT = 60;

  /** Days audit events are kept. */
  @Type(() => Number) @IsInt() @Min(1)
  REGISTRY_AUDIT_RETENTION_DAYS = 90;

  /** Allow DELETE of manifests, tags and blobs. */
  @Transform(toBoolean) @IsBoolean()
  REGISTRY_DELETE_ENABLED = true;

  /** Seconds an upload session may stay idle before it expires. */
  @Type(() => Number) @IsInt() @Min(1)
  REGISTRY_UPLOAD_TIMEOUT = 3600;

  /** Seconds a blob or manifest must stay unreferenced before GC may delete it. */
  @Type(() => Number) @IsInt() @Min(0)
  REGISTRY_GC_GRACE = 3600;

  /** Seconds between scheduled GC runs; 0 disables the schedule (POST /_gc still works). */
  @Type(() => Number) @IsInt() @Min(0)
  REGISTRY_GC_INTERVAL = 60;

  /** Let GC delete manifests that no tag points at and no index lists. */
  @Transform(toBoolean) @IsBoolean()
  REGISTRY_GC_DELETE_UNTAGGED = false;

  /** Largest manifest accepted, in bytes (the spec requires at least 4 MB). */
  @Type(() => Number) @IsInt() @Min(4 * 1000 * 1000) @Max(64 * 1024 * 1024)
  REGISTRY_MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

  /** Log HTTP requests (one JSON line each, with request id, user, repository, status, bytes, duration). */
  @Transform(toBoolean) @IsBoolean()
  REGISTRY_LOG_REQUESTS = true;

  /** Log level: fatal, error, warn, info, debug, trace or silent. */
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  REGISTRY_LOG_LEVEL: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' = 'info';

  /** PEM certificate (chain) file: serve HTTPS directly. Needs REGISTRY_TLS_KEY. */
  @ValidateIf((env: EnvSchema) => env.REGISTRY_TLS_CERT !== undefined || env.REGISTRY_TLS_KEY !== undefined)
  @IsDefined({ message: 'must be set together with REGISTRY_TLS_KEY' }) @IsString()
  REGISTRY_TLS_CERT?: string;

  /** PEM private key file of REGISTRY_TLS_CERT. */
  @ValidateIf((env: EnvSchema) => env.REGISTRY_TLS_CERT !== undefined || env.REGISTRY_TLS_KEY !== undefined)
  @IsDefined({ message: 'must be set together with REGISTRY_TLS_CERT' }) @IsString()
  REGISTRY_TLS_KEY?: string;

  /** Trust X-Forwarded-Proto/-Host/-For from a reverse proxy: false, true, a hop count, or comma-separated addresses/subnets. */
  @IsString() @Matches(/^(?:false|true|\d{1,2}|[0-9a-fA-F.:/,\s]+|loopback|linklocal|uniquelocal)$/, { message: 'must be false, true, a hop count, or comma-separated addresses' })
  REGISTRY_TRUST_PROXY = 'false';

  /** Seconds a client has to send the request headers (defeats slow-loris). */
  @Type(() => Number) @IsInt() @Min(1) @Max(3600)
  REGISTRY_HEADERS_TIMEOUT = 30;

  /** Seconds a connection may stay silent, mid-request included, before it is cut (an idle limit, never a total one: slow large uploads go on). */
  @Type(() => Number) @IsInt() @Min(1) @Max(86_400)
  REGISTRY_IDLE_TIMEOUT = 120;

  /** Largest request header block, in bytes (431 above). */
  @Type(() => Number) @IsInt() @Min(4096) @Max(1024 * 1024)
  REGISTRY_MAX_HEADER_BYTES = 16_384;

  /** Longest request URL, in bytes (414 above). */
  @Type(() => Number) @IsInt() @Min(1024) @Max(1024 * 1024)
  REGISTRY_MAX_URL_BYTES = 8192;

  /** Seconds in-flight requests and uploads get to finish after SIGTERM/SIGINT before connections are cut. */
  @Type(() => Number) @IsInt() @Min(0) @Max(3600)
  REGISTRY_SHUTDOWN_TIMEOUT = 30;

  /** Upload requests (POST/PATCH/PUT with a body) served at once; more answer 429 with Retry-After. 0: no limit. */
  @Type(() => Number) @IsInt() @Min(0)
  REGISTRY_MAX_CONCURRENT_UPLOADS = 0;

  /** Worker processes serving HTTP (Node cluster: one listening port, connections dealt round-robin); 0: one per CPU core. */
  @Type(() => Number) @IsInt() @Min(0) @Max(256)
  REGISTRY_WORKERS = 0;

  /** Maintenance mode: every write under /v2/ (and GC) is refused with 405 UNSUPPORTED; reads work. */
  @Transform(toBoolean) @IsBoolean()
  REGISTRY_READ_ONLY = false;

  /** Bearer secret /metrics requires; unset: /metrics is open (keep it off the public network). */
  @IsOptional() @IsString() @MinLength(16)
  REGISTRY_METRICS_TOKEN?: string;
}

// Optional fields may or may not be own keys of an instance (class-field semantics): dedupe.
export const ENV_KEYS = [...new Set(Object.keys(new EnvSchema()).concat(['REGISTRY_PUBLIC_URL', 'DATABASE_URL', 'REGISTRY_ADMIN_PASSWORD', 'REGISTRY_AUTH_TOKEN_KEY_FILE', 'REGISTRY_TLS_CERT', 'REGISTRY_TLS_KEY', 'REGISTRY_METRICS_TOKEN']))];
