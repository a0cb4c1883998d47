import { Controller, Get, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { MediaTypes } from '../common/oci/media-types';
import { V2_ROUTES, V2Params, type V2Path } from '../common/oci/v2-path';
import { RequireAccess } from '../access/require-access.decorator';
import { ManifestService } from './manifest.service';

@Controller()
export class ReferrersController {
  constructor(private readonly manifests: ManifestService) {}

  @Get(V2_ROUTES.referrers)
  @RequireAccess('pull')
  async list(@V2Params('referrers') path: V2Path, @Query('artifactType') artifactType: unknown, @Res() res: Response): Promise<void> {
    const filter = typeof artifactType === 'string' && artifactType !== '' ? artifactType : undefined;
    const { index, filtered } = await this.manifests.referrers(path.name, path.ref, filter);
    if (filtered) res.set('OCI-Filters-Applied', 'artifactType');
    const body = JSON.stringify(index);
    res.status(200).set({ 'Content-Type': MediaTypes.ociIndex, 'Content-Length': String(Buffer.byteLength(body)) }).end(body);
  }
}
