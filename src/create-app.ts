import { Logger, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { json, urlencoded, type NextFunction, type Request, type Response } from 'express';
import { AppModule } from './app.module';
import { GracefulShutdown } from './common/http/graceful-shutdown';
import { RegistryHttpAdapter } from './common/http/registry-http-adapter';
import type { RegistryConfig } from './config/registry-config';

export interface RegistryApp {
  app: NestExpressApplication;
  /** Stops the app gracefully (main.ts wires it to SIGTERM/SIGINT). */
  shutdown: GracefulShutdown;
}

/**
 * Builds the HTTP application. No global body parser: blob bodies are streamed to storage
 * and manifests are read as raw bytes with a cap by their own handler, so no parser ever
 * touches /v2/. Only the token POST (a small form) and the admin API (small JSON) get one.
 */
export async function createRegistryApp(config: RegistryConfig, options: { logger?: LogLevel[] | false } = {}): Promise<RegistryApp> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), new RegistryHttpAdapter(config), {
    bodyParser: false,
    logger: options.logger ?? ['log', 'warn', 'error'],
  });
  const shutdown = new GracefulShutdown(config.http.shutdownTimeoutMs);
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
  app.use((req: Request, res: Response, next: NextFunction) => {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    if (config.log.requests) {
      const started = process.hrtime.bigint();
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        Logger.log(`${req.method} ${req.originalUrl.split('?')[0]} ${res.statusCode} ${ms.toFixed(1)}ms`, 'HTTP');
      });
    }
    next();
  });
  return { app, shutdown };
}
