import { Controller, Get, Head, Res } from '@nestjs/common';
import type { Response } from 'express';
import { RequireAccess } from '../access/require-access.decorator';
import { ReadinessService } from './readiness.service';
import { V2_ROUTES } from '../common/oci/v2-path';

@Controller()
export class BaseController {
  constructor(private readonly readiness: ReadinessService) {}

  /** GET /v2/: the API version check every client starts with. */
  @Get(V2_ROUTES.base)
  @RequireAccess('authenticated')
  check(@Res() res: Response): void {
    res.status(200).json({});
  }

  @Head(V2_ROUTES.base)
  @RequireAccess('authenticated')
  checkHead(@Res() res: Response): void {
    res.status(200).set({ 'Content-Type': 'application/json', 'Content-Length': '2' }).end();
  }

  /** Process liveness for orchestrators; no auth, no database. */
  @Get('/healthz')
  @RequireAccess('public')
  health(@Res() res: Response): void {
    res.status(200).set('Cache-Control', 'no-store').json({ status: 'ok' });
  }

  /** Readiness for load balancers: 200 when the database answers and storage is writable, else 503 naming the failing check. */
  @Get('/readyz')
  @RequireAccess('public')
  async ready(@Res() res: Response): Promise<void> {
    const { ready, checks } = await this.readiness.check();
    res.status(ready ? 200 : 503).set('Cache-Control', 'no-store').json({ status: ready ? 'ok' : 'fail', checks });
  }
}
