import { Module } from '@nestjs/common';
import { BlobModule } from '../blob/blob.module';
import { UploadController } from './upload.controller';
import { UploadService } from './upload.service';

@Module({ imports: [BlobModule], controllers: [UploadController], providers: [UploadService], exports: [UploadService] })
export class UploadModule {}
