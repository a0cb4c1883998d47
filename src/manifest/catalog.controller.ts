import { Controller, Get, Query, Req, Res } from '@nestjs/common';
import type { Response } from 'express';
import { nextLink, parsePage } from '../common/http/pagination';
import { V2_ROUTES } from '../common/oci/v2-path';
import type { PrincipalRequest } from '../access/access.types';
import { RequireAccess } from '../access/require-access.decorator';
import { PrincipalAccess } from '../auth/principal-access.service';
import { ManifestService, MAX_LIST_PAGE } from './manifest.service';

@Controller()
export class CatalogController {
  constructor(
    private readonly manifests: ManifestService,
    private readonly principals: PrincipalAccess,
  ) {}

  /** GET /v2/_catalog (Docker API; not in the OCI spec) and its alias /_catalog: only repositories the caller may pull. */
  @Get([V2_ROUTES.catalog, '/_catalog'])
  @RequireAccess('catalog')
  async list(@Query() query: Record<string, unknown>, @Req() req: PrincipalRequest, @Res() res: Response): Promise<void> {
    const page = parsePage(query, MAX_LIST_PAGE);
    const { repositories, more } = await this.manifests.listRepositories(page.n, page.last, await this.principals.pullFilter(req.principal));
    if (more && repositories.length > 0) {
      res.set('Link', nextLink('/v2/_catalog', page.n ?? MAX_LIST_PAGE, repositories[repositories.length - 1]!));
    }
    res.status(200).json({ repositories });
  }
}
