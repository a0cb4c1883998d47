import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import { CliModule } from './cli/cli.module';
import { ClusterPrimary } from './cluster/primary';
import { ConfigError, loadRegistryConfig } from './config/load-registry-config';
import type { RegistryConfig } from './config/registry-config';
import { createRegistryApp } from './create-app';
import { PinoLoggerService } from './logging/pino-logger.service';
import { createRootLogger } from './logging/root-logger';

function loadConfig(): RegistryConfig {
  if (existsSync('.env')) process.loadEnvFile('.env');
  try {
    return loadRegistryConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      // For the operator at start-up, before any logger exists: the plain list, one problem per line.
      process.stderr.write(`${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
}

/**
 * The cluster primary, before it forks: everything a first start creates once (database
 * migrations, the admin user and its password file, the token signing key, the seeded
 * policies) is done here, in the CLI's application context, so the workers find it made
 * instead of racing to make it.
 */
async function runPrimary(config: RegistryConfig): Promise<never> {
  const logger = new PinoLoggerService(createRootLogger(config.log.level));
  Logger.overrideLogger(logger);
  const context = await NestFactory.createApplicationContext(CliModule.forRoot(config), { logger });
  await context.close();
  process.exit(await new ClusterPrimary(config.workers).start());
}

/** One worker's share of the limits that are meant for the whole process. */
function workerConfig(config: RegistryConfig): RegistryConfig {
  const uploads = config.http.maxConcurrentUploads;
  if (!cluster.isWorker || uploads === 0) return config;
  return Object.freeze({ ...config, http: Object.freeze({ ...config.http, maxConcurrentUploads: Math.ceil(uploads / config.workers) }) });
}

async function bootstrap(): Promise<void> {
  const config = loadConfig();
  if (config.workers > 1 && cluster.isPrimary) await runPrimary(config);
  const { app, shutdown } = await createRegistryApp(workerConfig(config));
  shutdown.installSignalHandlers(app);
  const logger = new Logger('Registry');
  await app.listen(config.http.port, config.http.host);
  const worker = cluster.isWorker ? ` (worker ${process.pid})` : '';
  logger.log(`listening on ${config.http.tls ? 'https' : 'http'}://${config.http.host}:${config.http.port}${worker} (data in ${config.dataDir})`);
}

void bootstrap();
