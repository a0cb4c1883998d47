import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { BlobModule } from '../blob/blob.module';
import { MetricsModule } from '../metrics/metrics.module';
import { UploadController } from './upload.controller';
import { UploadSlotsInterceptor } from './upload-slots.interceptor';
import { UploadService } from './upload.service';

@Module({ imports: [BlobModule, AuthModule, MetricsModule], controllers: [UploadController], providers: [UploadService, UploadSlotsInterceptor], exports: [UploadService, UploadSlotsInterceptor] })
export class UploadModule {}
