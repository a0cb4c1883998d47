import { Controller, Delete, Get, Inject, Patch, Post, Put, Query, Req, Res, UseInterceptors } from '@nestjs/common';
import type { Request, Response } from 'express';
import { parseContentRange } from '../common/http/byte-range';
import { publicLocation } from '../common/http/urls';
import { parseDigest } from '../common/oci/digest';
import { parseRepositoryName, type RepositoryName } from '../common/oci/reference';
import type { Digest } from '../common/oci/digest';
import { V2_ROUTES, V2Params, type V2Path } from '../common/oci/v2-path';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';
import { BlobService, type BlobDescriptor } from '../blob/blob.service';
import { OciError } from '../common/errors/oci-error';
import { RequireAccess } from '../access/require-access.decorator';
import type { PrincipalRequest } from '../access/access.types';
import { PrincipalAccess } from '../auth/principal-access.service';
import { UploadSlotsInterceptor } from './upload-slots.interceptor';
import { UploadService } from './upload.service';

const single = (value: unknown): string | undefined => (typeof value === 'string' ? value : Array.isArray(value) ? String(value[0]) : undefined);

@Controller()
@RequireAccess('push') // every upload route, cancel included: they all belong to a push
@UseInterceptors(UploadSlotsInterceptor)
export class UploadController {
  constructor(
    private readonly uploads: UploadService,
    private readonly blobs: BlobService,
    private readonly principals: PrincipalAccess,
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
  ) {}

  /** POST: start a session (202), upload in one request (?digest=, 201), or mount (?mount=, 201 or 202). */
  @Post(V2_ROUTES.uploadStart)
  async start(@V2Params('uploadStart') path: V2Path, @Query() query: Record<string, unknown>, @Req() req: Request & PrincipalRequest, @Res() res: Response): Promise<void> {
    const mount = single(query['mount']);
    const digestParam = single(query['digest']);
    if (mount !== undefined) {
      const blob = await this.mount(path.name, parseDigest(mount), single(query['from']), req);
      if (blob) return this.created(res, path.name, blob.digest);
    } else if (digestParam !== undefined) {
      const blob = await this.uploads.uploadMonolithic(path.name, parseDigest(digestParam), req);
      return this.created(res, path.name, blob.digest);
    }
    const session = await this.uploads.start(path.name);
    res.status(202).set(this.uploads.progressHeaders(path.name, session.id, 0)).set('Content-Length', '0').end();
  }

  @Patch(V2_ROUTES.upload)
  async patch(@V2Params('upload') path: V2Path, @Req() req: Request, @Res() res: Response): Promise<void> {
    const range = parseContentRange(req.headers['content-range']);
    const session = await this.uploads.appendChunk(path.name, path.ref, req, range);
    res.status(202).set(this.uploads.progressHeaders(path.name, session.id, session.offset)).set('Content-Length', '0').end();
  }

  @Put(V2_ROUTES.upload)
  async complete(@V2Params('upload') path: V2Path, @Query() query: Record<string, unknown>, @Req() req: Request, @Res() res: Response): Promise<void> {
    const digestParam = single(query['digest']);
    if (digestParam === undefined) throw OciError.digestInvalid({ digest: null }, 'the digest query parameter is required');
    const digest = parseDigest(digestParam);
    const range = parseContentRange(req.headers['content-range']);
    const blob = await this.uploads.complete(path.name, path.ref, digest, req, range);
    this.created(res, path.name, blob.digest);
  }

  @Get(V2_ROUTES.upload)
  async status(@V2Params('upload') path: V2Path, @Res() res: Response): Promise<void> {
    const session = await this.uploads.get(path.name, path.ref);
    res.status(204).set(this.uploads.progressHeaders(path.name, session.id, session.offset)).end();
  }

  @Delete(V2_ROUTES.upload)
  async cancel(@V2Params('upload') path: V2Path, @Res() res: Response): Promise<void> {
    await this.uploads.cancel(path.name, path.ref);
    res.status(204).end();
  }

  /**
   * A cross-repository mount, if the caller may read the source: with `from`, pull on it
   * (else a normal upload starts: spec behaviour, and no probing of repositories the caller
   * cannot read); without `from`, any repository holding the blob that the caller may pull.
   */
  private async mount(name: RepositoryName, digest: Digest, from: string | undefined, req: PrincipalRequest): Promise<BlobDescriptor | undefined> {
    if (from === undefined) return this.blobs.mount(name, digest, undefined, await this.principals.pullFilter(req.principal));
    const source = parseRepositoryName(from);
    if (!(await this.principals.mayPull(req.principal, source))) return undefined;
    return this.blobs.mount(name, digest, source);
  }

  private created(res: Response, name: string, digest: string): void {
    res
      .status(201)
      .set({ Location: publicLocation(this.config, `/v2/${name}/blobs/${digest}`), 'Docker-Content-Digest': digest, 'Content-Length': '0' })
      .end();
  }
}
