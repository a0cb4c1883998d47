import { expectOciError } from '../../../test/utils/oci-error';
import { createDigestHash, digestAlgorithm, digestHex, digestOf, isDigestLike, parseDigest, tryParseDigest } from './digest';

const SHA256_EMPTY = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SHA512_ABC =
  'sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f';
const hex64 = 'a'.repeat(64);
const hex128 = 'b'.repeat(128);

describe(isDigestLike.name, () => {
  it.each([
    ['a registered sha256 digest', SHA256_EMPTY],
    ['a registered sha512 digest', SHA512_ABC],
    ['an unregistered algorithm with base64url encoding (image-spec example)', 'sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564'],
    ['an unregistered algorithm (image-spec multihash example)', 'multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8'],
    ['algorithm components joined by . _ - +', 'a.b_c-d+e:x'],
    ['an encoded part with = padding', 'sha256:abc='],
    ['uppercase in the encoded part (the grammar allows it)', `sha256:${'A'.repeat(64)}`],
    ['the shortest possible digest', 'a:b'],
  ])('accepts %s', (_, value) => {
    expect(isDigestLike(value)).toBe(true);
  });

  it.each([
    ['an empty string', ''],
    ['a value without a colon', hex64],
    ['an empty algorithm', `:${hex64}`],
    ['an empty encoded part', 'sha256:'],
    ['an uppercase algorithm', `SHA256:${hex64}`],
    ['an algorithm starting with a separator', `+sha256:${hex64}`],
    ['an algorithm ending with a separator', `sha256+:${hex64}`],
    ['two separators in a row in the algorithm', `sha256+-b64:${hex64}`],
    ['a second colon', `sha256:${hex64}:x`],
    ['a "/" in the encoded part', 'sha256:ab/cd'],
    ['a "+" in the encoded part', 'sha256:ab+cd'],
    ['a "." in the encoded part', 'sha256:ab.cd'],
    ['whitespace around the digest', ` ${SHA256_EMPTY} `],
    ['a trailing newline', `${SHA256_EMPTY}\n`],
    ['a colon-separated algorithm', 'sha:256:abc'],
  ])('rejects %s', (_, value) => {
    expect(isDigestLike(value)).toBe(false);
  });

  it('rejects a well-formed digest longer than 256 characters', () => {
    expect(isDigestLike(`sha256:${'a'.repeat(249)}`)).toBe(true); // exactly 256
    expect(isDigestLike(`sha256:${'a'.repeat(250)}`)).toBe(false);
  });
});

describe(parseDigest.name, () => {
  it('accepts a sha256 digest of 64 lowercase hex characters', () => {
    expect(parseDigest(SHA256_EMPTY)).toBe(SHA256_EMPTY);
  });

  it('accepts a sha512 digest of 128 lowercase hex characters', () => {
    expect(parseDigest(SHA512_ABC)).toBe(SHA512_ABC);
  });

  it.each([
    ['a sha256 digest one character short', `sha256:${hex64.slice(1)}`],
    ['a sha256 digest one character long', `sha256:${hex64}a`],
    ['a sha256 digest of sha512 length', `sha256:${hex128}`],
    ['a sha512 digest of sha256 length', `sha512:${hex64}`],
  ])('rejects %s with DIGEST_INVALID', (_, value) => {
    expectOciError(() => parseDigest(value), 'DIGEST_INVALID', 400);
  });

  it('rejects a digest with uppercase hex', () => {
    expectOciError(() => parseDigest(`sha256:${'A'.repeat(64)}`), 'DIGEST_INVALID', 400);
    expectOciError(() => parseDigest(SHA256_EMPTY.replace('e3b0', 'E3B0')), 'DIGEST_INVALID', 400);
  });

  it('rejects a digest of the right length whose encoding is not hex', () => {
    expectOciError(() => parseDigest(`sha256:${'g'.repeat(64)}`), 'DIGEST_INVALID');
    expectOciError(() => parseDigest(`sha256:${'_'.repeat(64)}`), 'DIGEST_INVALID');
    expectOciError(() => parseDigest(`sha256:${'='.repeat(64)}`), 'DIGEST_INVALID');
  });

  it('rejects a well-formed digest of an unsupported algorithm with DIGEST_INVALID naming the algorithm', () => {
    const error = expectOciError(() => parseDigest(`md5:${'a'.repeat(32)}`), 'DIGEST_INVALID', 400);
    expect(error.message).toContain('md5');
    expectOciError(() => parseDigest('sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564'), 'DIGEST_INVALID');
    expectOciError(() => parseDigest(`sha384:${'a'.repeat(96)}`), 'DIGEST_INVALID');
  });

  it('rejects an uppercase algorithm name', () => {
    expectOciError(() => parseDigest(`SHA256:${hex64}`), 'DIGEST_INVALID');
  });

  it('rejects an empty or missing value', () => {
    expectOciError(() => parseDigest(''), 'DIGEST_INVALID', 400);
    const error = expectOciError(() => parseDigest(undefined), 'DIGEST_INVALID', 400);
    expect(error.detail).toEqual({ digest: null });
  });

  it('rejects a value without a colon', () => {
    expectOciError(() => parseDigest(hex64), 'DIGEST_INVALID');
  });

  it('rejects a value with an empty encoded part or an empty algorithm', () => {
    expectOciError(() => parseDigest('sha256:'), 'DIGEST_INVALID');
    expectOciError(() => parseDigest(`:${hex64}`), 'DIGEST_INVALID');
  });

  it('rejects a digest with surrounding whitespace', () => {
    expectOciError(() => parseDigest(` ${SHA256_EMPTY}`), 'DIGEST_INVALID');
    expectOciError(() => parseDigest(`${SHA256_EMPTY}\n`), 'DIGEST_INVALID');
  });

  it('reports the offending digest in the error detail', () => {
    const error = expectOciError(() => parseDigest(`sha256:${hex64}0`), 'DIGEST_INVALID');
    expect(error.detail).toEqual({ digest: `sha256:${hex64}0` });
  });
});

describe(tryParseDigest.name, () => {
  it('answers the digest when it is valid', () => {
    expect(tryParseDigest(SHA256_EMPTY)).toBe(SHA256_EMPTY);
    expect(tryParseDigest(SHA512_ABC)).toBe(SHA512_ABC);
  });

  it.each(['', 'latest', `sha256:${hex64.toUpperCase()}`, `md5:${'a'.repeat(32)}`, `sha256:${hex64.slice(2)}`])(
    'answers undefined for %j instead of throwing',
    (value) => {
      expect(tryParseDigest(value)).toBeUndefined();
    },
  );
});

describe(digestOf.name, () => {
  it('computes the sha256 digest by default', () => {
    expect(digestOf(Buffer.alloc(0))).toBe(SHA256_EMPTY);
  });

  it('computes a sha512 digest when asked', () => {
    expect(digestOf(Buffer.from('abc'), 'sha512')).toBe(SHA512_ABC);
  });

  it('produces digests that parseDigest accepts', () => {
    const bytes = Buffer.from('{"schemaVersion":2}');
    expect(parseDigest(digestOf(bytes))).toBe(digestOf(bytes));
    expect(parseDigest(digestOf(bytes, 'sha512'))).toBe(digestOf(bytes, 'sha512'));
  });

  it('hashes the exact bytes (whitespace changes the digest)', () => {
    expect(digestOf(Buffer.from('{}'))).toBe('sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
    expect(digestOf(Buffer.from('{ }'))).not.toBe(digestOf(Buffer.from('{}')));
  });
});

describe(digestAlgorithm.name, () => {
  it('answers the algorithm part of a digest', () => {
    expect(digestAlgorithm(parseDigest(SHA256_EMPTY))).toBe('sha256');
    expect(digestAlgorithm(parseDigest(SHA512_ABC))).toBe('sha512');
  });
});

describe(digestHex.name, () => {
  it('answers the encoded part of a digest', () => {
    expect(digestHex(parseDigest(SHA256_EMPTY))).toBe(SHA256_EMPTY.slice('sha256:'.length));
  });
});

describe(createDigestHash.name, () => {
  it('hashes incrementally to the same digest as digestOf', () => {
    const hash = createDigestHash('sha512');
    hash.update('a').update('bc');
    expect(`sha512:${hash.digest('hex')}`).toBe(SHA512_ABC);
  });
});
