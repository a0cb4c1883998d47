import { OciError } from '../errors/oci-error';

export interface Page {
  /** Page size, or undefined for "everything after `last`" (capped by the caller). */
  n?: number;
  last?: string;
}

/** Reads `n` and `last` of a list endpoint (tags, catalog). */
export function parsePage(query: Record<string, unknown>, maxPage: number): Page {
  const rawN = typeof query['n'] === 'string' ? query['n'] : undefined;
  const last = typeof query['last'] === 'string' && query['last'] !== '' ? query['last'] : undefined;
  if (rawN === undefined || rawN === '') return { last };
  if (!/^\d+$/.test(rawN)) throw OciError.paginationInvalid(rawN);
  return { n: Math.min(Number(rawN), maxPage), last };
}

/** RFC 8288 `Link` header for the next page of a list endpoint. */
export function nextLink(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}
