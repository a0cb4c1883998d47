import { Controller, Get, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { nextLink, parsePage } from '../common/http/pagination';
import { V2_ROUTES } from '../common/oci/v2-path';
import { ManifestService, MAX_LIST_PAGE } from './manifest.service';

@Controller()
export class CatalogController {
  constructor(private readonly manifests: ManifestService) {}

  /** GET /v2/_catalog (Docker API; not in the OCI spec) and its alias /_catalog. */
  @Get([V2_ROUTES.catalog, '/_catalog'])
  async list(@Query() query: Record<string, unknown>, @Res() res: Response): Promise<void> {
    const page = parsePage(query, MAX_LIST_PAGE);
    const { repositories, more } = await this.manifests.listRepositories(page.n, page.last);
    if (more && repositories.length > 0) {
      res.set('Link', nextLink('/v2/_catalog', page.n ?? MAX_LIST_PAGE, repositories[repositories.length - 1]!));
    }
    res.status(200).json({ repositories });
  }
}
