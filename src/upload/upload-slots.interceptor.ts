import { CallHandler, ExecutionContext, Inject, Injectable, NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Observable } from 'rxjs';
import { OciError } from '../common/errors/oci-error';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';

/**
 * REGISTRY_MAX_CONCURRENT_UPLOADS: upload requests (POST, PATCH, PUT of the upload routes)
 * served at once by this process. One more answers 429 TOOMANYREQUESTS with Retry-After,
 * before its body is read; clients retry. A slot is freed when the response ends or the
 * connection drops. 0 disables the limit.
 */
@Injectable()
export class UploadSlotsInterceptor implements NestInterceptor {
  private inFlight = 0;

  constructor(@Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig) {}

  /** Upload requests being served right now (for metrics). */
  get active(): number {
    return this.inFlight;
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const limit = this.config.http.maxConcurrentUploads;
    const req = context.switchToHttp().getRequest<Request>();
    if (limit === 0 || req.method === 'GET' || req.method === 'DELETE') return next.handle();
    if (this.inFlight >= limit) throw OciError.tooManyRequests(1, `more than ${limit} uploads in progress; retry shortly`, { limit });
    this.inFlight++;
    const res = context.switchToHttp().getResponse<Response>();
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.inFlight--;
    };
    res.once('close', release);
    res.once('finish', release);
    return next.handle();
  }
}
