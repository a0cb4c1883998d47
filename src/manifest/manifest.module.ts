import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { CatalogController } from './catalog.controller';
import { ManifestController } from './manifest.controller';
import { ManifestService } from './manifest.service';
import { ReferrersController } from './referrers.controller';
import { TagController } from './tag.controller';

@Module({
  imports: [AuthModule],
  controllers: [TagController, ReferrersController, CatalogController, ManifestController],
  providers: [ManifestService],
  exports: [ManifestService],
})
export class ManifestModule {}
