import { Module } from '@nestjs/common';
import { BaseController } from './base.controller';
import { ReadinessService } from './readiness.service';

@Module({ controllers: [BaseController], providers: [ReadinessService] })
export class HealthModule {}
