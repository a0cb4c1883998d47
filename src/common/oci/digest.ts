import { createHash, Hash } from 'node:crypto';
import { OciError } from '../errors/oci-error';

/** A syntactically valid digest (`algorithm:encoded`), parsed at the edge. */
export type Digest = string & { readonly __brand: 'Digest' };

/** Algorithms this registry can verify and store, with the exact length of their hex encoding. */
const SUPPORTED: Record<string, number> = { sha256: 64, sha512: 128 };
export type DigestAlgorithm = 'sha256' | 'sha512';

// image-spec descriptor.md: algorithm ":" encoded
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** True for a well-formed digest of any algorithm (unknown algorithms are well-formed too). */
export function isDigestLike(value: string): boolean {
  return value.length <= 256 && DIGEST_GRAMMAR.test(value);
}

/**
 * Parses a digest this registry can verify (sha256 or sha512, lowercase hex of the right
 * length). Anything else is DIGEST_INVALID: we never store content under a digest we
 * could not check.
 */
export function parseDigest(value: string | undefined): Digest {
  if (!value || !isDigestLike(value)) throw OciError.digestInvalid({ digest: value ?? null }, 'invalid digest');
  const [algorithm, encoded] = value.split(':', 2) as [string, string];
  const length = SUPPORTED[algorithm];
  if (length === undefined) throw OciError.digestInvalid({ digest: value }, `unsupported digest algorithm ${algorithm}`);
  if (encoded.length !== length || !/^[a-f0-9]+$/.test(encoded)) {
    throw OciError.digestInvalid({ digest: value }, `invalid ${algorithm} digest`);
  }
  return value as Digest;
}

/** Like parseDigest, but answers undefined instead of throwing. */
export function tryParseDigest(value: string): Digest | undefined {
  try {
    return parseDigest(value);
  } catch {
    return undefined;
  }
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function createDigestHash(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(bytes: Buffer, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}` as Digest;
}
