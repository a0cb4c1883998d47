import { Logger, type INestApplication } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import type { Server } from 'node:http';

/**
 * Graceful shutdown, in this order:
 * 1. stop accepting connections and close idle keep-alive ones; responses still in flight get
 *    `Connection: close`, so each connection ends with its request;
 * 2. wait for in-flight requests and uploads, up to REGISTRY_SHUTDOWN_TIMEOUT, then cut what
 *    is left (an upload cut off resumes after restart: its session and bytes are durable);
 * 3. close the application: the GC schedule stops (a pass in flight finishes), the audit
 *    buffer is flushed, the database is closed.
 */
export class GracefulShutdown {
  private readonly logger = new Logger('Shutdown');
  private shuttingDown = false;
  private done?: Promise<void>;

  constructor(private readonly timeoutMs: number) {}

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Express middleware: while shutting down, every response closes its connection. */
  readonly middleware = (_req: Request, res: Response, next: NextFunction): void => {
    if (this.shuttingDown) res.setHeader('Connection', 'close');
    next();
  };

  /** Shuts `app` down (idempotent: a second signal waits for the first shutdown). */
  shutdown(app: INestApplication, reason: string): Promise<void> {
    this.done ??= this.run(app, reason);
    return this.done;
  }

  private async run(app: INestApplication, reason: string): Promise<void> {
    this.shuttingDown = true;
    const server = app.getHttpServer() as Server;
    this.logger.log(`${reason}: refusing new connections, waiting up to ${this.timeoutMs / 1000}s for requests in flight`);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const idleSweep = setInterval(() => server.closeIdleConnections(), 250);
    const deadline = setTimeout(() => {
      this.logger.warn('shutdown timeout reached: cutting the connections still open');
      server.closeAllConnections();
    }, this.timeoutMs);
    await closed;
    clearInterval(idleSweep);
    clearTimeout(deadline);
    await app.close();
    this.logger.log('stopped');
  }

  /** SIGTERM and SIGINT shut down gracefully; the process exits when done. */
  installSignalHandlers(app: INestApplication): void {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.on(signal, () => {
        void this.shutdown(app, signal).then(
          () => process.exit(0),
          (error: unknown) => {
            this.logger.error(`shutdown failed: ${error instanceof Error ? error.stack : String(error)}`);
            process.exit(1);
          },
        );
      });
    }
  }
}
