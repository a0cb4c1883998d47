import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module';
import { BlobLocks } from './blob-locks';
import { BlobController } from './blob.controller';
import { BlobService } from './blob.service';

@Module({ imports: [MetricsModule], controllers: [BlobController], providers: [BlobService, BlobLocks], exports: [BlobService, BlobLocks] })
export class BlobModule {}
