export interface RegistryConfig {
  readonly http: { readonly port: number; readonly host: string; readonly publicUrl?: string; readonly logRequests: boolean };
  readonly dataDir: string;
  readonly storage: { readonly driver: 'filesystem'; readonly filesystem: { readonly root: string } };
  readonly database: { readonly dialect: 'sqlite'; readonly filename: string };
  readonly auth: { readonly mode: 'none' };
  readonly deleteEnabled: boolean;
  /** Idle time after which an upload session expires, in milliseconds. */
  readonly uploadTimeoutMs: number;
  readonly manifestMaxBytes: number;
  readonly gc: { readonly graceMs: number; readonly intervalMs: number; readonly deleteUntagged: boolean };
}
