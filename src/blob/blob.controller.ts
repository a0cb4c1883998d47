import { Controller, Delete, Get, Head, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ByteRange, parseByteRange } from '../common/http/byte-range';
import { parseDigest } from '../common/oci/digest';
import { V2_ROUTES, V2Params, type V2Path } from '../common/oci/v2-path';
import { RequireAccess } from '../access/require-access.decorator';
import { MetricsService } from '../metrics/metrics.service';
import { BlobDescriptor, BlobService } from './blob.service';

function blobHeaders(blob: BlobDescriptor, range?: ByteRange): Record<string, string> {
  const headers: Record<string, string> = {
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(range ? range.end - range.start + 1 : blob.size),
    'Docker-Content-Digest': blob.digest,
    ETag: `"${blob.digest}"`,
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'max-age=31536000',
  };
  if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${blob.size}`;
  return headers;
}

/**
 * Writes one chunk and resolves once the connection took it (its buffer is then reused by the
 * storage driver); rejects when the client is gone.
 */
function writeChunk(res: Response, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (res.destroyed) {
      reject(new Error('the client closed the connection'));
      return;
    }
    const onClose = (): void => reject(new Error('the client closed the connection'));
    res.once('close', onClose);
    res.write(chunk, (error) => {
      res.off('close', onClose);
      if (error) reject(error);
      else resolve();
    });
  });
}

@Controller()
export class BlobController {
  constructor(
    private readonly blobs: BlobService,
    private readonly metrics: MetricsService,
  ) {}

  @Head(V2_ROUTES.blob)
  @RequireAccess('pull')
  async head(@V2Params('blob') path: V2Path, @Res() res: Response): Promise<void> {
    const blob = await this.blobs.probe(path.name, parseDigest(path.ref));
    res.status(200).set(blobHeaders(blob)).end();
  }

  @Get(V2_ROUTES.blob)
  @RequireAccess('pull')
  async get(@V2Params('blob') path: V2Path, @Req() req: Request, @Res() res: Response): Promise<void> {
    const blob = await this.blobs.open(path.name, parseDigest(path.ref), (size) => parseByteRange(req.headers.range, size));
    res.status(blob.range ? 206 : 200).set(blobHeaders(blob, blob.range));
    await blob.body.forEach(async (chunk) => {
      await writeChunk(res, chunk);
      this.metrics.bytesPulled(chunk.length);
    });
    res.end();
  }

  @Delete(V2_ROUTES.blob)
  @RequireAccess('delete')
  async delete(@V2Params('blob') path: V2Path, @Res() res: Response): Promise<void> {
    await this.blobs.delete(path.name, parseDigest(path.ref));
    res.status(202).set('Content-Length', '0').end();
  }
}
