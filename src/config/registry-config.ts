export interface RegistryConfig {
  readonly http: { readonly port: number; readonly host: string; readonly publicUrl?: string; readonly logRequests: boolean };
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
