import { Controller, Get } from '@nestjs/common';
import { RegistryStats, StatsService } from './stats.service';

@Controller()
export class StatsController {
  constructor(private readonly statsService: StatsService) {}

  @Get('/_stats')
  stats(): Promise<RegistryStats> {
    return this.statsService.stats();
  }
}
