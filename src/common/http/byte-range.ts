import { OciError } from '../errors/oci-error';

/** An inclusive byte range, already clamped to the object's size. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Parses a single-range `Range: bytes=…` header (RFC 9110 §14.1.2) against an object of
 * `size` bytes: `a-b`, `a-` and suffix `-n`; an end past the object is clamped. Returns
 * undefined when there is no usable header (the whole object is then served), throws a
 * 416 OciError when the range cannot be satisfied. Multi-range requests are answered with
 * the whole object, which RFC 9110 allows.
 */
export function parseByteRange(header: string | undefined, size: number): ByteRange | undefined {
  if (!header) return undefined;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return undefined; // syntactically invalid or multi-range: ignore (RFC 9110)
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) throw OciError.rangeNotSatisfiable(size);
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (!Number.isSafeInteger(start) || start >= size || (last !== '' && Number(last) < start)) {
    throw OciError.rangeNotSatisfiable(size);
  }
  return { start, end };
}

/** Parses an upload `Content-Range: <start>-<end>` (inclusive; "bytes " prefix tolerated). */
export function parseContentRange(header: string | undefined): ByteRange | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*(?:bytes[ =])?\s*(\d+)-(\d+)(?:\/(?:\d+|\*))?\s*$/i.exec(header);
  if (!match) throw new OciError('BLOB_UPLOAD_INVALID', { contentRange: header.slice(0, 100) }, 416, {}, 'invalid Content-Range');
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) {
    throw new OciError('BLOB_UPLOAD_INVALID', { contentRange: header }, 416, {}, 'invalid Content-Range');
  }
  return { start, end };
}
