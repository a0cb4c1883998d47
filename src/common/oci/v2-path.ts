import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { OciError } from '../errors/oci-error';
import { parseRepositoryName, RepositoryName } from './reference';

/**
 * OCI repository names contain "/", so Nest's `:param` cannot capture them. The route
 * templates below only select the controller method; the authoritative parse is
 * `parseV2Path` over the raw (still percent-encoded) path, so `%2F`, `..` and other
 * tricks fail the name grammar and never reach storage.
 */
export const V2_ROUTES = {
  base: '/v2{/}',
  catalog: '/v2/_catalog',
  manifest: '/v2/*name/manifests/:reference',
  blob: '/v2/*name/blobs/:digest',
  uploadStart: '/v2/*name/blobs/uploads{/}',
  upload: '/v2/*name/blobs/uploads/:uploadId',
  tags: '/v2/*name/tags/list',
  referrers: '/v2/*name/referrers/:digest',
} as const;

export type V2Kind = 'manifest' | 'blob' | 'uploadStart' | 'upload' | 'tags' | 'referrers';
export interface V2Path {
  kind: V2Kind;
  name: RepositoryName;
  /** Manifest reference, blob/referrers digest or upload id, exactly as in the URL. */
  ref: string;
}

const UPLOAD_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Parses `/v2/<name>/…` (the path without its query). Returns undefined for non-repository routes. */
export function parseV2Path(rawPath: string): V2Path | undefined {
  if (!rawPath.startsWith('/v2/')) return undefined;
  const segments = rawPath.slice(4).split('/');
  const n = segments.length;
  const at = (i: number): string | undefined => segments[n + i];
  let kind: V2Kind;
  let ref = '';
  let nameEnd: number;
  if (n >= 3 && at(-2) === 'tags' && at(-1) === 'list') {
    kind = 'tags';
    nameEnd = n - 2;
  } else if (n >= 3 && at(-2) === 'blobs' && at(-1) === 'uploads') {
    kind = 'uploadStart';
    nameEnd = n - 2;
  } else if (n >= 4 && at(-3) === 'blobs' && at(-2) === 'uploads') {
    ref = at(-1)!;
    kind = ref === '' ? 'uploadStart' : 'upload';
    nameEnd = n - 3;
  } else if (n >= 3 && (at(-2) === 'manifests' || at(-2) === 'blobs' || at(-2) === 'referrers')) {
    kind = at(-2) === 'manifests' ? 'manifest' : at(-2) === 'blobs' ? 'blob' : 'referrers';
    ref = at(-1)!;
    nameEnd = n - 2;
  } else {
    return undefined;
  }
  const name = parseRepositoryName(segments.slice(0, nameEnd).join('/'));
  if (kind === 'upload' && !UPLOAD_ID.test(ref)) throw OciError.uploadUnknown(ref.slice(0, 100));
  return { kind, name, ref };
}

export type V2Request = Request & { v2?: V2Path };

/** The parsed path of this request (parsed once, cached on the request). */
export function v2PathOf(req: V2Request): V2Path | undefined {
  if (req.v2 === undefined) {
    const parsed = parseV2Path(req.path);
    if (parsed) req.v2 = parsed;
  }
  return req.v2;
}

/** Param decorator: the parsed `/v2/<name>/<kind>/<ref>` of the request, of the expected kind. */
export const V2Params = createParamDecorator((kind: V2Kind, ctx: ExecutionContext): V2Path => {
  const parsed = v2PathOf(ctx.switchToHttp().getRequest<V2Request>());
  if (!parsed || parsed.kind !== kind) throw new OciError('UNSUPPORTED', undefined, 404, {}, 'no such route');
  return parsed;
});
