import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from './password-hasher';

/** scrypt costs ~0.15 s a call: each hash below is computed once and shared. */
describe(hashPassword.name, () => {
  let hash: string;
  beforeAll(async () => {
    hash = await hashPassword('correct horse battery staple');
  });

  it('encodes scheme, N=2^15, r=8, p=1, a 16-byte salt and a 32-byte key', () => {
    const parts = hash.split('$');
    expect(parts).toHaveLength(6);
    expect(parts.slice(0, 4)).toEqual(['scrypt', '32768', '8', '1']);
    expect(parts[4]).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(parts[4]!, 'base64url')).toHaveLength(16);
    expect(parts[5]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(parts[5]!, 'base64url')).toHaveLength(32);
  });

  it('never stores the password itself', () => {
    expect(hash).not.toContain('correct horse');
  });

  it('verifies the password it was made from and rejects any other', async () => {
    expect(await verifyPassword('correct horse battery staple', hash)).toBe(true);
    expect(await verifyPassword('correct horse battery stapl', hash)).toBe(false);
  });

  it('uses a fresh salt each time, so the same password hashes differently', async () => {
    const again = await hashPassword('correct horse battery staple');
    expect(again.split('$')[4]).not.toBe(hash.split('$')[4]);
    expect(again.split('$')[5]).not.toBe(hash.split('$')[5]);
  });
});

describe(verifyPassword.name, () => {
  it('verifies a Unicode password whatever its normalisation form (NFC and NFD match)', async () => {
    const nfc = 'p\u00e4ssw\u00f6rd';
    const nfd = nfc.normalize('NFD');
    expect(nfd).not.toBe(nfc);
    expect(await verifyPassword(nfd, await hashPassword(nfc))).toBe(true);
  });

  it.each([
    ['an empty string', ''],
    ['another scheme', 'bcrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['no hash part', 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA'],
    ['an empty salt', 'scrypt$32768$8$1$$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['a non-numeric N', 'scrypt$abc$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['a zero r', 'scrypt$32768$0$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['a negative p', 'scrypt$32768$8$-1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['a fractional N', 'scrypt$1.5$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['an N that is not a power of two', 'scrypt$3$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['an N beyond what scrypt accepts', 'scrypt$1099511627776$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['a plain password', 'hunter2'],
  ])('answers false, without throwing, for a malformed hash: %s', async (_, encoded) => {
    await expect(verifyPassword('hunter2', encoded)).resolves.toBe(false);
  });

  it('answers false for a well-formed hash whose key has the wrong length', async () => {
    await expect(verifyPassword('hunter2', 'scrypt$16$1$1$AAAAAAAAAAAAAAAAAAAAAA$AAAA')).resolves.toBe(false);
  });
});

describe('DUMMY_PASSWORD_HASH', () => {
  it('has the format of a real hash, so verifying against it costs the same', () => {
    expect(DUMMY_PASSWORD_HASH.split('$').slice(0, 4)).toEqual(['scrypt', '32768', '8', '1']);
    expect(Buffer.from(DUMMY_PASSWORD_HASH.split('$')[5]!, 'base64url')).toHaveLength(32);
  });

  it('matches no password, the empty one included', async () => {
    expect(await verifyPassword('', DUMMY_PASSWORD_HASH)).toBe(false);
    expect(await verifyPassword('admin', DUMMY_PASSWORD_HASH)).toBe(false);
  });
});
