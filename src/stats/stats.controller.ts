import { Controller, Get } from '@nestjs/common';
import { RequireAccess } from '../access/require-access.decorator';
import { RegistryStats, StatsService } from './stats.service';

@Controller()
@RequireAccess('admin')
export class StatsController {
  constructor(private readonly statsService: StatsService) {}

  @Get('/_stats')
  stats(): Promise<RegistryStats> {
    return this.statsService.stats();
  }
}
