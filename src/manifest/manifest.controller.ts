import { Controller, Delete, Get, Head, Inject, Put, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { readBoundedBody } from '../common/http/read-body';
import { publicLocation } from '../common/http/urls';
import { parseManifestReference } from '../common/oci/reference';
import { V2_ROUTES, V2Params, type V2Path } from '../common/oci/v2-path';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';
import { RequireAccess } from '../access/require-access.decorator';
import { ManifestService, StoredManifest } from './manifest.service';

function manifestHeaders(m: StoredManifest): Record<string, string> {
  return {
    'Content-Type': m.mediaType,
    'Content-Length': String(m.size),
    'Docker-Content-Digest': m.digest,
    ETag: `"${m.digest}"`,
  };
}

const tagParams = (value: unknown): string[] => (value === undefined ? [] : Array.isArray(value) ? value.map(String) : [String(value)]);

@Controller()
export class ManifestController {
  constructor(
    private readonly manifests: ManifestService,
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
  ) {}

  @Head(V2_ROUTES.manifest)
  @RequireAccess('pull')
  async head(@V2Params('manifest') path: V2Path, @Res() res: Response): Promise<void> {
    const manifest = await this.manifests.get(path.name, parseManifestReference(path.ref));
    res.status(200).set(manifestHeaders(manifest)).end();
  }

  @Get(V2_ROUTES.manifest)
  @RequireAccess('pull')
  async get(@V2Params('manifest') path: V2Path, @Req() req: Request, @Res() res: Response): Promise<void> {
    const manifest = await this.manifests.get(path.name, parseManifestReference(path.ref));
    res.set(manifestHeaders(manifest));
    if (req.headers['if-none-match'] === `"${manifest.digest}"`) {
      res.status(304).end();
      return;
    }
    res.status(200).end(manifest.payload);
  }

  @Put(V2_ROUTES.manifest)
  @RequireAccess('push')
  async put(@V2Params('manifest') path: V2Path, @Query('tag') tag: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    const reference = parseManifestReference(path.ref);
    const payload = await readBoundedBody(req, this.config.manifestMaxBytes);
    const result = await this.manifests.put(path.name, reference, req.headers['content-type'], payload, tagParams(tag));
    res.status(201).set({
      Location: publicLocation(this.config, `/v2/${path.name}/manifests/${result.digest}`),
      'Docker-Content-Digest': result.digest,
      'Content-Length': '0',
    });
    if (result.subject) res.set('OCI-Subject', result.subject);
    if (reference.kind === 'digest' && result.tags.length > 0) res.set('OCI-Tag', result.tags);
    res.end();
  }

  @Delete(V2_ROUTES.manifest)
  @RequireAccess('delete')
  async delete(@V2Params('manifest') path: V2Path, @Res() res: Response): Promise<void> {
    await this.manifests.delete(path.name, parseManifestReference(path.ref));
    res.status(202).set('Content-Length', '0').end();
  }
}
