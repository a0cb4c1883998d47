import { Module } from '@nestjs/common';
import { BaseController } from './base.controller';
import { InstancePresence } from './instance-presence.service';
import { ReadinessService } from './readiness.service';

@Module({ controllers: [BaseController], providers: [ReadinessService, InstancePresence] })
export class HealthModule {}
