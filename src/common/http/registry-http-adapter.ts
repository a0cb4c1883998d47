import { ExpressAdapter } from '@nestjs/platform-express';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { RegistryConfig } from '../../config/registry-config';

/**
 * The Express adapter with the HTTP server built our way: HTTPS when a certificate is
 * configured, and timeouts that defeat slow-loris without breaking slow large uploads:
 * - `headersTimeout`: the whole header block must arrive within REGISTRY_HEADERS_TIMEOUT;
 * - `requestTimeout` 0: no cap on a request's total time (a 10 GiB layer over a slow link is fine);
 * - `timeout` (socket inactivity): a connection silent for REGISTRY_IDLE_TIMEOUT is cut,
 *   mid-body included; any byte received or sent restarts the clock;
 * - `maxHeaderSize`: header blocks above REGISTRY_MAX_HEADER_BYTES get 431 from Node's parser.
 */
export class RegistryHttpAdapter extends ExpressAdapter {
  constructor(private readonly config: RegistryConfig) {
    super();
  }

  override initHttpServer(): void {
    const { http: settings } = this.config;
    const options: http.ServerOptions = {
      maxHeaderSize: settings.maxHeaderBytes,
      requestTimeout: 0,
      headersTimeout: settings.headersTimeoutMs,
      keepAliveTimeout: 5_000,
      // How often Node checks header timeouts: often enough that a short setting means what it says.
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, settings.headersTimeoutMs / 4)),
    };
    const server = settings.tls
      ? https.createServer({ ...options, cert: readFileSync(settings.tls.certFile), key: readFileSync(settings.tls.keyFile) }, this.getInstance())
      : http.createServer(options, this.getInstance());
    server.timeout = settings.idleTimeoutMs;
    this.setHttpServer(server);
  }
}
