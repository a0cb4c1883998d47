import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { createRegistryApp } from './create-app';
import { ConfigError, loadRegistryConfig } from './config/load-registry-config';

async function bootstrap(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  let config;
  try {
    config = loadRegistryConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      // For the operator at start-up, before any logger exists: the plain list, one problem per line.
      process.stderr.write(`${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  const { app, shutdown } = await createRegistryApp(config);
  shutdown.installSignalHandlers(app);
  const logger = new Logger('Registry');
  await app.listen(config.http.port, config.http.host);
  logger.log(`listening on ${config.http.tls ? 'https' : 'http'}://${config.http.host}:${config.http.port} (data in ${config.dataDir})`);
}

void bootstrap();
