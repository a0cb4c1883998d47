import { Inject, Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { REGISTRY_CONFIG } from '../../config/config.tokens';
import type { RegistryConfig } from '../../config/registry-config';
import { OciError } from '../errors/oci-error';

/** Refuses URLs longer than REGISTRY_MAX_URL_BYTES with 414 (header size is Node's parser's job: 431). */
@Injectable()
export class RequestLimitsMiddleware implements NestMiddleware {
  constructor(@Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig) {}

  use(req: Request, _res: Response, next: NextFunction): void {
    if (req.originalUrl.length > this.config.http.maxUrlBytes) {
      throw new OciError('INVALID_REQUEST', { limit: this.config.http.maxUrlBytes }, 414, {}, `request URL longer than ${this.config.http.maxUrlBytes} bytes`);
    }
    next();
  }
}
