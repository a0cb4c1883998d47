import { Controller, Get, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { nextLink, parsePage } from '../common/http/pagination';
import { V2_ROUTES, V2Params, type V2Path } from '../common/oci/v2-path';
import { RequireAccess } from '../access/require-access.decorator';
import { ManifestService, MAX_LIST_PAGE } from './manifest.service';

@Controller()
export class TagController {
  constructor(private readonly manifests: ManifestService) {}

  @Get(V2_ROUTES.tags)
  @RequireAccess('pull')
  async list(@V2Params('tags') path: V2Path, @Query() query: Record<string, unknown>, @Res() res: Response): Promise<void> {
    const page = parsePage(query, MAX_LIST_PAGE);
    const { tags, more } = await this.manifests.listTags(path.name, page.n, page.last);
    if (more && tags.length > 0) res.set('Link', nextLink(`/v2/${path.name}/tags/list`, page.n ?? MAX_LIST_PAGE, tags[tags.length - 1]!));
    res.status(200).json({ name: path.name, tags });
  }
}
