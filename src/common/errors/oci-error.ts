/**
 * The registry's one error type. Codes and statuses follow the OCI distribution-spec error
 * table (statuses as distribution maps them), plus `UNKNOWN` (500), which never carries a cause.
 * Services throw these; the global OciErrorFilter turns them into `{"errors":[…]}` bodies.
 */
const OCI_ERRORS = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  TAG_INVALID: { status: 400, message: 'manifest tag did not match URI' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
  UNKNOWN: { status: 500, message: 'unknown error' },
  // Ours, for the admin REST API (/api/v1) only: the spec's codes describe registry objects.
  INVALID_REQUEST: { status: 400, message: 'invalid request' },
  NOT_FOUND: { status: 404, message: 'not found' },
  CONFLICT: { status: 409, message: 'conflict' },
} as const satisfies Record<string, { status: number; message: string }>;

export type OciErrorCode = keyof typeof OCI_ERRORS;

export class OciError extends Error {
  readonly status: number;

  constructor(
    readonly code: OciErrorCode,
    readonly detail?: unknown,
    status?: number,
    readonly headers: Record<string, string | string[]> = {},
    message?: string,
  ) {
    super(message ?? OCI_ERRORS[code].message);
    this.status = status ?? OCI_ERRORS[code].status;
  }

  toJSON(): { code: string; message: string; detail: unknown } {
    return { code: this.code, message: this.message, detail: this.detail ?? null };
  }

  static blobUnknown = (digest: string): OciError => new OciError('BLOB_UNKNOWN', { digest });
  static uploadUnknown = (uploadId: string): OciError => new OciError('BLOB_UPLOAD_UNKNOWN', { uploadId });
  static digestInvalid = (detail: unknown, message?: string): OciError =>
    new OciError('DIGEST_INVALID', detail, undefined, {}, message);
  static manifestUnknown = (reference: string): OciError => new OciError('MANIFEST_UNKNOWN', { reference });
  static manifestInvalid = (reason: string): OciError =>
    new OciError('MANIFEST_INVALID', { reason }, undefined, {}, `manifest invalid: ${reason}`);
  static manifestBlobUnknown = (digest: string): OciError => new OciError('MANIFEST_BLOB_UNKNOWN', { digest });
  static nameInvalid = (reason: string): OciError =>
    new OciError('NAME_INVALID', { reason }, undefined, {}, `invalid repository name: ${reason}`);
  static nameUnknown = (name: string): OciError => new OciError('NAME_UNKNOWN', { name });
  static tagInvalid = (tag: string): OciError => new OciError('TAG_INVALID', { tag }, undefined, {}, 'invalid tag');
  static deleteDisabled = (): OciError =>
    new OciError('UNSUPPORTED', undefined, 405, {}, 'deletes are disabled on this registry');
  static manifestTooLarge = (limit: number): OciError =>
    new OciError('MANIFEST_INVALID', { limit }, 413, {}, `manifest exceeds the ${limit}-byte limit`);
  static paginationInvalid = (value: string): OciError => new OciError('PAGINATION_NUMBER_INVALID', { n: value });
  /** An out-of-order or overlapping chunk: 416 with the session's current Range. */
  static chunkOutOfOrder = (uploadId: string, headers: Record<string, string>): OciError =>
    new OciError('BLOB_UPLOAD_INVALID', { uploadId }, 416, headers, 'chunk does not continue the upload');
  /** A request the token endpoint or admin API cannot take (bad field, unknown grant type…). */
  static invalidRequest = (message: string, detail?: unknown): OciError => new OciError('INVALID_REQUEST', detail, undefined, {}, message);
  static notFound = (what: string, detail?: unknown): OciError => new OciError('NOT_FOUND', detail, undefined, {}, `${what} not found`);
  static conflict = (message: string, detail?: unknown): OciError => new OciError('CONFLICT', detail, undefined, {}, message);
  /** REGISTRY_READ_ONLY: a write refused during maintenance. */
  static readOnly = (): OciError =>
    new OciError('UNSUPPORTED', { readOnly: true }, 405, {}, 'the registry is in read-only maintenance mode: pushes and deletes are refused, pulls work');
  /** 429 with Retry-After: the client may try again after `retryAfterSeconds`. */
  static tooManyRequests = (retryAfterSeconds: number, message: string, detail: Record<string, unknown> = {}): OciError =>
    new OciError('TOOMANYREQUESTS', { ...detail, retryAfter: retryAfterSeconds }, 429, { 'Retry-After': String(retryAfterSeconds) }, message);
  static rangeNotSatisfiable = (size: number): OciError =>
    new OciError('RANGE_INVALID', { size }, 416, { 'Content-Range': `bytes */${size}` }, 'requested range not satisfiable');
}
