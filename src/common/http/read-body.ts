import type { Readable } from 'node:stream';
import { OciError } from '../errors/oci-error';

/**
 * Reads a small request body (a manifest) into one Buffer with a hard cap: a declared
 * Content-Length over the cap is refused before reading, and a body that streams past the
 * cap stops being read at the cap (the rest is discarded). Either way the answer is 413.
 */
export async function readBoundedBody(req: Readable & { headers: Record<string, string | string[] | undefined> }, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (typeof declared === 'string' && Number(declared) > limit) throw OciError.manifestTooLarge(limit);
  const chunks: Buffer[] = [];
  let total = 0;
  // destroyOnReturn: false — destroying the request resets the socket before the 413 goes out.
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    const buffer = chunk as Buffer;
    total += buffer.length;
    if (total > limit) {
      req.resume(); // drop the rest; the error filter closes the connection after answering
      throw OciError.manifestTooLarge(limit);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, total);
}
