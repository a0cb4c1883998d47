import { Controller, Get, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { RequireAccess } from '../access/require-access.decorator';
import { MetricsTokenGuard } from './metrics-token.guard';
import { MetricsService } from './metrics.service';

@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  /** Prometheus text exposition. Public to the registry guard; MetricsTokenGuard checks REGISTRY_METRICS_TOKEN. */
  @Get('/metrics')
  @RequireAccess('public')
  @UseGuards(MetricsTokenGuard)
  async scrape(@Res() res: Response): Promise<void> {
    const body = await this.metrics.metrics();
    res.status(200).set({ 'Content-Type': this.metrics.contentType, 'Cache-Control': 'no-store' }).send(body);
  }
}
