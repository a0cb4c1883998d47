import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';

export type SigningAlgorithm = 'ES256' | 'RS256';

/** RFC 7638 JWK thumbprint: SHA-256 over the required members in lexical order (what distribution v3 uses as `kid`). */
export function jwkThumbprint(jwk: JsonWebKey): string {
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** Reads the PEM key at `file`, or generates an EC P-256 key there (mode 0600) when there is none. */
function loadOrCreateKey(file: string, mayCreate: boolean, logger: Logger): KeyObject {
  try {
    return createPrivateKey(readFileSync(file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !mayCreate) throw new Error(`token signing key ${file}: ${(error as Error).message}`);
  }
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    logger.log(`generated an ES256 token signing key in ${file}`);
    return privateKey;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return createPrivateKey(readFileSync(file)); // another process won the race
    throw error;
  }
}

/**
 * The key registry tokens are signed with: the configured PEM file, or one generated into
 * `<data dir>/auth/token-signing-key.pem` on first start (kept across restarts so issued
 * tokens stay valid). EC P-256 signs ES256, RSA signs RS256. Its public half is served as a
 * JWKS so other services can verify our tokens.
 */
@Injectable()
export class SigningKeyService implements OnModuleInit {
  privateKey!: KeyObject;
  publicKey!: KeyObject;
  /** SPKI PEM of the public key (what the JWT library's verify takes). */
  publicKeyPem!: string;
  algorithm!: SigningAlgorithm;
  kid!: string;
  publicJwk!: JsonWebKey & { kid: string; alg: SigningAlgorithm; use: 'sig' };

  constructor(@Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig) {}

  /** Loads (or creates) the key at start-up, with token auth only: a bad key file stops the start. */
  onModuleInit(): void {
    const config = this.config;
    if (config.auth.mode !== 'token') return;
    const logger = new Logger('Auth');
    const configured = config.auth.keyFile;
    this.privateKey = loadOrCreateKey(configured ?? join(config.dataDir, 'auth', 'token-signing-key.pem'), configured === undefined, logger);
    this.publicKey = createPublicKey(this.privateKey);
    this.publicKeyPem = this.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const type = this.privateKey.asymmetricKeyType;
    if (type === 'ec' && this.privateKey.asymmetricKeyDetails?.namedCurve === 'prime256v1') this.algorithm = 'ES256';
    else if (type === 'rsa' && (this.privateKey.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) this.algorithm = 'RS256';
    else throw new Error('token signing key must be EC P-256 (ES256) or RSA of at least 2048 bits (RS256)');
    const jwk = this.publicKey.export({ format: 'jwk' });
    this.kid = jwkThumbprint(jwk);
    this.publicJwk = { ...jwk, kid: this.kid, alg: this.algorithm, use: 'sig' };
  }
}
