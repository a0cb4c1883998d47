import { Logger } from '@nestjs/common';
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, removeDir } from '../../test/utils/temp-dir';
import { loadRegistryConfig } from '../config/load-registry-config';
import { jwkThumbprint, SigningKeyService } from './signing-key.service';

describe(jwkThumbprint.name, () => {
  /** RFC 7638 section 3.1. */
  const rfcKey = {
    kty: 'RSA',
    n:
      '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
    e: 'AQAB',
    alg: 'RS256',
    kid: '2011-04-29',
  };

  it('computes the RFC 7638 example thumbprint of an RSA key', () => {
    expect(jwkThumbprint(rfcKey)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('ignores non-required members and member order', () => {
    expect(jwkThumbprint({ e: rfcKey.e, n: rfcKey.n, kty: 'RSA' })).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
    expect(jwkThumbprint({ ...rfcKey, use: 'sig', d: 'private' })).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('hashes crv, kty, x and y of an EC key, ignoring the private part', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const priv = privateKey.export({ format: 'jwk' });
    const pub = createPublicKey(privateKey).export({ format: 'jwk' });
    const thumbprint = jwkThumbprint(pub);
    expect(thumbprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(jwkThumbprint(priv)).toBe(thumbprint);
    expect(jwkThumbprint({ y: pub.y, x: pub.x, kty: 'EC', crv: 'P-256', kid: 'k' })).toBe(thumbprint);
    expect(jwkThumbprint({ ...pub, x: pub.y, y: pub.x })).not.toBe(thumbprint);
  });
});

describe(SigningKeyService.name, () => {
  let dir: string;
  beforeAll(() => {
    Logger.overrideLogger(false); // "generated an ES256 token signing key in …"
  });
  beforeEach(() => {
    dir = makeTempDir('signing-key-');
  });
  afterEach(() => {
    removeDir(dir);
  });

  /** A service as Nest would start it, for `env`. */
  function start(env: NodeJS.ProcessEnv): SigningKeyService {
    const service = new SigningKeyService(loadRegistryConfig({ REGISTRY_DATA_DIR: dir, ...env }));
    service.onModuleInit();
    return service;
  }

  /** Writes a PKCS#8 PEM private key to `name` in the temp dir. */
  function keyFile(name: string, key: ReturnType<typeof generateKeyPairSync>['privateKey']): string {
    const file = join(dir, name);
    writeFileSync(file, key.export({ type: 'pkcs8', format: 'pem' }));
    return file;
  }

  it('generates an EC P-256 key in <data dir>/auth/token-signing-key.pem, mode 0600, and signs ES256', () => {
    const service = start({});
    const file = join(dir, 'auth', 'token-signing-key.pem');
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'auth')).mode & 0o077).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(service.algorithm).toBe('ES256');
    expect(service.privateKey.asymmetricKeyType).toBe('ec');
    expect(service.privateKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('publishes the public half only, as a JWK whose kid is its thumbprint', () => {
    const service = start({});
    expect(service.publicJwk).toEqual({
      kty: 'EC',
      crv: 'P-256',
      x: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      y: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      kid: service.kid,
      alg: 'ES256',
      use: 'sig',
    });
    expect(service.publicJwk).not.toHaveProperty('d');
    expect(service.kid).toBe(jwkThumbprint(service.publicJwk));
    expect(service.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
  });

  it('holds a key pair whose public half verifies what the private half signs', () => {
    const service = start({});
    const signature = sign('sha256', Buffer.from('payload'), service.privateKey);
    expect(verify('sha256', Buffer.from('payload'), service.publicKeyPem, signature)).toBe(true);
  });

  it('reuses the generated key on the next start (same kid, same file)', () => {
    const first = start({});
    const pem = readFileSync(join(dir, 'auth', 'token-signing-key.pem'), 'utf8');
    const second = start({});
    expect(second.kid).toBe(first.kid);
    expect(second.publicKeyPem).toBe(first.publicKeyPem);
    expect(readFileSync(join(dir, 'auth', 'token-signing-key.pem'), 'utf8')).toBe(pem);
  });

  it('loads a configured RSA 2048 key file, signs RS256 and generates nothing', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const file = keyFile('rsa.pem', privateKey);
    const service = start({ REGISTRY_AUTH_TOKEN_KEY_FILE: file });
    expect(service.algorithm).toBe('RS256');
    expect(service.publicJwk).toMatchObject({ kty: 'RSA', e: 'AQAB', alg: 'RS256', use: 'sig', kid: service.kid });
    expect(service.publicJwk).not.toHaveProperty('d');
    expect(service.publicKeyPem).toBe(createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }));
    expect(existsSync(join(dir, 'auth'))).toBe(false);
  });

  it('loads a configured EC P-256 key file as ES256', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const service = start({ REGISTRY_AUTH_TOKEN_KEY_FILE: keyFile('ec.pem', privateKey) });
    expect(service.algorithm).toBe('ES256');
    expect(service.kid).toBe(jwkThumbprint(createPublicKey(privateKey).export({ format: 'jwk' })));
  });

  it('refuses an EC P-384 key', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    expect(() => start({ REGISTRY_AUTH_TOKEN_KEY_FILE: keyFile('p384.pem', privateKey) })).toThrow(
      'token signing key must be EC P-256 (ES256) or RSA of at least 2048 bits (RS256)',
    );
  });

  it('refuses an RSA key shorter than 2048 bits', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => start({ REGISTRY_AUTH_TOKEN_KEY_FILE: keyFile('rsa1024.pem', privateKey) })).toThrow(
      'token signing key must be EC P-256 (ES256) or RSA of at least 2048 bits (RS256)',
    );
  });

  it('refuses a configured key file that does not exist, naming it, instead of generating one', () => {
    const file = join(dir, 'missing.pem');
    expect(() => start({ REGISTRY_AUTH_TOKEN_KEY_FILE: file })).toThrow(`token signing key ${file}: `);
    expect(existsSync(file)).toBe(false);
  });

  it('refuses a configured key file that is not a PEM private key, naming it', () => {
    const file = join(dir, 'garbage.pem');
    writeFileSync(file, 'not a key\n');
    expect(() => start({ REGISTRY_AUTH_TOKEN_KEY_FILE: file })).toThrow(`token signing key ${file}: `);
  });

  it('neither loads nor generates a key when authentication is off', () => {
    const service = start({ REGISTRY_AUTH: 'none' });
    expect(service.kid).toBeUndefined();
    expect(existsSync(join(dir, 'auth'))).toBe(false);
  });
});
