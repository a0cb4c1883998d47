import { Module } from '@nestjs/common';
import { CatalogController } from './catalog.controller';
import { ManifestController } from './manifest.controller';
import { ManifestService } from './manifest.service';
import { ReferrersController } from './referrers.controller';
import { TagController } from './tag.controller';

@Module({
  controllers: [TagController, ReferrersController, CatalogController, ManifestController],
  providers: [ManifestService],
  exports: [ManifestService],
})
export class ManifestModule {}
