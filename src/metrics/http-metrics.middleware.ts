import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import type { V2Request } from '../common/oci/v2-path';
import { MetricsService } from './metrics.service';
import { pathOf, routeLabel, v2KindOf } from './route-label';

/** The status label of a response whose connection closed before it ended (nginx's "client closed request"). */
export const CLOSED_EARLY_STATUS = 499;
const UPLOAD_METHODS = new Set(['POST', 'PATCH', 'PUT']);

/**
 * Counts and times every request, guard refusals and 404s included (a middleware runs
 * before guards and routing; an interceptor would miss both). The route label is computed
 * once, when the response ends, from what routing and the v2 parse left on the request.
 * Upload requests (POST, PATCH, PUT on blobs/uploads) are also counted while in flight.
 */
@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  constructor(private readonly metrics: MetricsService) {}

  use(req: Request & V2Request, res: Response, next: NextFunction): void {
    const started = performance.now();
    const kind = UPLOAD_METHODS.has(req.method) ? v2KindOf(pathOf(req.originalUrl)) : undefined;
    const isUpload = kind === 'upload' || kind === 'uploadStart';
    if (isUpload) this.metrics.uploadRequestStarted();
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      if (isUpload) this.metrics.uploadRequestEnded();
      const status = res.writableFinished ? res.statusCode : CLOSED_EARLY_STATUS;
      this.metrics.observeHttp(req.method, routeLabel(req), status, (performance.now() - started) / 1000);
    };
    res.once('finish', end);
    res.once('close', end);
    next();
  }
}
