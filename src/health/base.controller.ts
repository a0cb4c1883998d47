import { Controller, Get, Head, Res } from '@nestjs/common';
import type { Response } from 'express';
import { RequireAccess } from '../access/require-access.decorator';
import { V2_ROUTES } from '../common/oci/v2-path';

@Controller()
export class BaseController {
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
    res.status(200).json({ status: 'ok' });
  }
}
