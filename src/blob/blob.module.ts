import { Module } from '@nestjs/common';
import { BlobLocks } from './blob-locks';
import { BlobController } from './blob.controller';
import { BlobService } from './blob.service';

@Module({ controllers: [BlobController], providers: [BlobService, BlobLocks], exports: [BlobService, BlobLocks] })
export class BlobModule {}
