import { createHash, randomBytes } from 'node:crypto';

/** Prefix of access-token secrets: lets the verifier (and secret scanners) tell them from passwords. */
export const ACCESS_TOKEN_PREFIX = 'rat_';
export const REFRESH_TOKEN_PREFIX = 'rrt_';

/** A new random secret: 256 bits, base64url, with a recognisable prefix. */
export function newSecret(prefix: string): string {
  return prefix + randomBytes(32).toString('base64url');
}

/**
 * SHA-256 of a random 256-bit secret. A fast hash is right here: the secret has full entropy,
 * so there is nothing to brute-force, and the hash doubles as an indexed lookup key.
 */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
