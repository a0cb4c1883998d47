import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { json, urlencoded, type NextFunction, type Request, type Response } from 'express';
import type { DestinationStream, LevelWithSilent } from 'pino';
import { AppModule } from './app.module';
import { GracefulShutdown } from './common/http/graceful-shutdown';
import { RegistryHttpAdapter } from './common/http/registry-http-adapter';
import type { RegistryConfig } from './config/registry-config';
import { PinoLoggerService } from './logging/pino-logger.service';
import { createRequestLogMiddleware } from './logging/request-log.middleware';
import { createRootLogger } from './logging/root-logger';

export interface RegistryAppOptions {
  /** Log level, instead of config.log.level (tests pass 'silent'). */
  logger?: LevelWithSilent;
  /** Where the JSON log lines go (default: stdout). */
  logDestination?: DestinationStream;
}

export interface RegistryApp {
  app: NestExpressApplication;
  /** Stops the app gracefully (main.ts wires it to SIGTERM/SIGINT). */
  shutdown: GracefulShutdown;
}

/**
 * Builds the HTTP application. No global body parser: blob bodies are streamed to storage
 * and manifests are read as raw bytes with a cap by their own handler, so no parser ever
 * touches /v2/. Only the token POST (a small form) and the admin API (small JSON) get one.
 *
 * Logs are pino JSON lines from the first one on: the logger exists before Nest does and is
 * handed to NestFactory, so Nest's start-up lines go through it too (no buffering needed).
 */
export async function createRegistryApp(config: RegistryConfig, options: RegistryAppOptions = {}): Promise<RegistryApp> {
  const logger = createRootLogger(options.logger ?? config.log.level, options.logDestination);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), new RegistryHttpAdapter(config), {
    bodyParser: false,
    logger: new PinoLoggerService(logger),
  });
  const shutdown = new GracefulShutdown(config.http.shutdownTimeoutMs);
  // First: every request gets an id (X-Request-Id) and a log line, those refused early included.
  app.use(createRequestLogMiddleware(logger, config.log));
  app.disable('x-powered-by');
  // X-Forwarded-Proto/-Host/-For count only from trusted proxies (token realm, client address).
  app.set('trust proxy', config.http.trustProxy);
  app.use(shutdown.middleware);
  app.set('etag', false);
  // node:querystring: repeated keys (`tag=`, `scope=`) become arrays whatever their number (qs caps arrays at 20), and no nesting.
  app.set('query parser', 'simple');
  // Bodies are parsed only where they are small forms: the OAuth2 token POST and the admin API.
  app.use('/token', urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 }));
  app.use('/api/v1', json({ limit: '64kb', strict: true }));
  app.use((_req: Request, res: Response, next: NextFunction) => {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    next();
  });
  return { app, shutdown };
}
