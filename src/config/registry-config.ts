export interface RegistryConfig {
  readonly http: {
    readonly port: number;
    readonly host: string;
    readonly publicUrl?: string;
    /** Express `trust proxy`: false (default), true, a hop count, or addresses/subnets. */
    readonly trustProxy: boolean | number | string[];
    /** PEM files: serve HTTPS directly when set. */
    readonly tls?: { readonly certFile: string; readonly keyFile: string };
    readonly headersTimeoutMs: number;
    readonly idleTimeoutMs: number;
    readonly maxHeaderBytes: number;
    readonly maxUrlBytes: number;
    readonly shutdownTimeoutMs: number;
    /** 0: no limit. */
    readonly maxConcurrentUploads: number;
  };
  readonly log: { readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'; readonly requests: boolean };
  /** Worker processes serving HTTP (1: no cluster, the process serves itself). */
  readonly workers: number;
  /** Maintenance mode: writes under /v2/ and GC refused, reads served. */
  readonly readOnly: boolean;
  readonly metrics: { readonly token?: string };
  readonly dataDir: string;
  readonly storage: { readonly driver: 'filesystem'; readonly filesystem: { readonly root: string } };
  readonly database: { readonly dialect: 'sqlite'; readonly filename: string };
  readonly auth: AuthConfig;
  readonly audit: { readonly retentionMs: number };
  readonly deleteEnabled: boolean;
  /** Idle time after which an upload session expires, in milliseconds. */
  readonly uploadTimeoutMs: number;
  readonly manifestMaxBytes: number;
  readonly gc: { readonly graceMs: number; readonly intervalMs: number; readonly deleteUntagged: boolean };
}

export type AuthConfig =
  | { readonly mode: 'none' }
  | {
      readonly mode: 'token';
      /** Password for the first admin; undefined: generate one. Never logged. */
      readonly adminPassword?: string;
      readonly service: string;
      readonly issuer: string;
      readonly tokenTtlSeconds: number;
      /** PEM private key file; undefined: `<data dir>/auth/token-signing-key.pem`, generated when absent. */
      readonly keyFile?: string;
      readonly policiesFile: string;
      readonly maxFailures: number;
      readonly lockoutMs: number;
    };
