import { Module } from '@nestjs/common';
import { BlobModule } from '../blob/blob.module';
import { MetricsModule } from '../metrics/metrics.module';
import { UploadModule } from '../upload/upload.module';
import { GcController } from './gc.controller';
import { GcScheduler } from './gc.scheduler';
import { GcService } from './gc.service';

@Module({
  imports: [BlobModule, UploadModule, MetricsModule],
  controllers: [GcController],
  providers: [GcService, GcScheduler],
  exports: [GcService],
})
export class GcModule {}
