import { Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { RequireAccess } from '../access/require-access.decorator';
import type { GcRunRecord } from '../metadata/stores/gc.store';
import { GcReport, GcService } from './gc.service';

@Controller()
@RequireAccess('admin')
export class GcController {
  constructor(private readonly gc: GcService) {}

  /** Runs a GC pass now; `?dryRun=true` reports what it would delete without deleting. */
  @Post('/_gc')
  @HttpCode(200)
  run(@Query('dryRun') dryRun?: string): Promise<GcReport> {
    return this.gc.run({ dryRun: dryRun === 'true' || dryRun === '1', trigger: 'api' });
  }

  @Get('/api/v1/gc/runs')
  async runs(@Query('limit') limit?: string): Promise<{ runs: GcRunRecord[] }> {
    const n = Math.min(Math.max(Number.parseInt(limit ?? '50', 10) || 50, 1), 1000);
    return { runs: await this.gc.listRuns(n) };
  }
}
