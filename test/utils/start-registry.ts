import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import type { DestinationStream, LevelWithSilent } from 'pino';
import { loadRegistryConfig } from '../../src/config/load-registry-config';
import { createRegistryApp } from '../../src/create-app';
import { makeTempDir, removeDir } from './temp-dir';

/** The admin password of registries started with `auth: true`. */
export const TEST_ADMIN_PASSWORD = 'admin-test-password';
export const TEST_SERVICE = 'test-registry';

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] satisfies LevelWithSilent[];

function testLogLevel(configured: LevelWithSilent, destination: DestinationStream | undefined): LevelWithSilent {
  if (destination) return configured;
  const wanted = process.env['REGISTRY_TEST_LOGS'];
  if (!wanted) return 'silent';
  return LEVELS.includes(wanted) ? (wanted as LevelWithSilent) : configured;
}

export interface RunningRegistry {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT */
  host: string;
  port: number;
  dataDir: string;
  /** Stops the server; removes the data dir when startRegistry created it. */
  stop(): Promise<void>;
  /** Stops the server, keeping the data dir (for restart tests). */
  close(): Promise<void>;
}

/**
 * Starts the real application in this process on 127.0.0.1 and a random port (or `port`),
 * with a temp data dir unless one is given. Protocol specs run with `REGISTRY_AUTH=none`;
 * `auth: true` runs the production default (token auth, admin password TEST_ADMIN_PASSWORD,
 * service TEST_SERVICE, the seed policies from config/policies.json). Configuration goes through the same validated
 * loader as production, from `env`.
 *
 * Logs: with `logDestination`, the JSON lines go there at the configured level
 * (REGISTRY_LOG_LEVEL, default info). Otherwise the registry is silent, unless
 * REGISTRY_TEST_LOGS is set: `1` logs to stdout at the configured level, a level name at that level.
 */
export async function startRegistry(
  opts: { dataDir?: string; env?: Record<string, string>; port?: number; auth?: boolean; logDestination?: DestinationStream } = {},
): Promise<RunningRegistry> {
  const ownsDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? makeTempDir();
  const auth = opts.auth
    ? { REGISTRY_AUTH: 'token', REGISTRY_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, REGISTRY_AUTH_SERVICE: TEST_SERVICE }
    : { REGISTRY_AUTH: 'none' };
  const config = loadRegistryConfig({ ...auth, ...opts.env, REGISTRY_DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: String(opts.port ?? 0) });
  const { app } = await createRegistryApp(config, { logger: testLogLevel(config.log.level, opts.logDestination), logDestination: opts.logDestination });
  try {
    await app.listen(opts.port ?? 0, '127.0.0.1');
  } catch (error) {
    await app.close().catch(() => undefined); // a failed start (bad config, bootstrap error) must not leave the database or timers open
    throw error;
  }
  const port = (app.getHttpServer().address() as AddressInfo).port;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await app.close();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    dataDir,
    close,
    stop: async () => {
      await close();
      if (ownsDir) removeDir(dataDir);
    },
  };
}
