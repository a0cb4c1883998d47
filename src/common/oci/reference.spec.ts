import { expectOciError } from '../../../test/utils/oci-error';
import { isRepositoryName, isTag, MAX_NAME_LENGTH, parseManifestReference, parseRepositoryName, parseTag } from './reference';

const SHA256 = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe(parseRepositoryName.name, () => {
  it.each([
    ['a single character', 'a'],
    ['digits only', '0'],
    ['several path components', 'a/b/c'],
    ['a typical name', 'library/ubuntu'],
    ['a dot separator', 'a.b'],
    ['a single underscore', 'a_b'],
    ['a double underscore', 'a__b'],
    ['a single dash', 'a-b'],
    ['several dashes', 'a--b'],
    ['many dashes', 'a-----b'],
    ['mixed separators', 'my-org.io/some_team/app__x--y.z'],
    ['component words the router uses', 'blobs/manifests/tags/uploads/list/referrers'],
  ])('accepts %s (%s)', (_, name) => {
    expect(parseRepositoryName(name)).toBe(name);
    expect(isRepositoryName(name)).toBe(true);
  });

  it.each([
    ['an empty name', ''],
    ['a leading slash', '/a'],
    ['a trailing slash', 'a/'],
    ['an empty component', 'a//b'],
    ['a leading dot', '.a'],
    ['a trailing dot', 'a.'],
    ['a leading dash', '-a'],
    ['a trailing dash', 'a-'],
    ['a leading underscore', '_a'],
    ['a trailing underscore', 'a_'],
    ['a component starting with a separator', 'a/-b'],
    ['a component ending with a separator', 'a./b'],
    ['two dots', 'a..b'],
    ['three underscores', 'a___b'],
    ['mixed adjacent separators', 'a._b'],
    ['a dot-dot component', 'a/../b'],
    ['a bare dot-dot', '..'],
    ['a dot component', 'a/./b'],
    ['uppercase letters', 'Library/ubuntu'],
    ['an uppercase component', 'a/B'],
    ['a percent-encoded slash', 'a%2Fb'],
    ['a percent-encoded dot-dot', '%2E%2E/a'],
    ['a colon', 'a:b'],
    ['a space', 'a b'],
    ['a backslash', 'a\\b'],
    ['a non-ASCII letter', 'caf\u00e9'],
    ['a trailing newline', 'a\n'],
  ])('rejects %s with NAME_INVALID (%j)', (_, name) => {
    expectOciError(() => parseRepositoryName(name), 'NAME_INVALID', 400);
    expect(isRepositoryName(name)).toBe(false);
  });

  it(`accepts a name of exactly ${MAX_NAME_LENGTH} characters`, () => {
    const single = 'a'.repeat(255);
    const nested = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
    expect(nested).toHaveLength(255);
    expect(parseRepositoryName(single)).toBe(single);
    expect(parseRepositoryName(nested)).toBe(nested);
  });

  it('rejects a name of 256 characters with NAME_INVALID', () => {
    const name = 'a'.repeat(256);
    const error = expectOciError(() => parseRepositoryName(name), 'NAME_INVALID', 400);
    expect(error.message).toContain('255');
    expect(isRepositoryName(name)).toBe(false);
  });

  it('truncates a very long invalid name in the error message', () => {
    const error = expectOciError(() => parseRepositoryName(`A${'a'.repeat(200)}`), 'NAME_INVALID');
    expect(error.message.length).toBeLessThan(400);
  });
});

describe(parseTag.name, () => {
  it.each([
    ['a plain tag', 'latest'],
    ['a semver tag', 'v1.2.3-rc.1'],
    ['uppercase letters', 'Latest'],
    ['a leading underscore', '_tmp'],
    ['a leading digit', '1'],
    ['a referrers fallback tag', `sha256-${'a'.repeat(64)}`],
    ['dots and dashes after the first character', 'a.-_'],
  ])('accepts %s (%s)', (_, tag) => {
    expect(parseTag(tag)).toBe(tag);
    expect(isTag(tag)).toBe(true);
  });

  it('accepts a tag of 128 characters', () => {
    const tag = 'a'.repeat(128);
    expect(parseTag(tag)).toBe(tag);
  });

  it('rejects a tag of 129 characters with TAG_INVALID', () => {
    expectOciError(() => parseTag('a'.repeat(129)), 'TAG_INVALID', 400);
  });

  it.each([
    ['an empty tag', ''],
    ['a leading dot', '.latest'],
    ['a leading dash', '-latest'],
    ['a colon', 'a:b'],
    ['a slash', 'a/b'],
    ['a plus sign', 'v1+build'],
    ['a space', 'a b'],
    ['a percent sign', 'a%20b'],
    ['a non-ASCII letter', 'caf\u00e9'],
    ['a trailing newline', 'latest\n'],
  ])('rejects %s with TAG_INVALID (%j)', (_, tag) => {
    expectOciError(() => parseTag(tag), 'TAG_INVALID', 400);
    expect(isTag(tag)).toBe(false);
  });
});

describe(parseManifestReference.name, () => {
  it('reads a value without a colon as a tag', () => {
    expect(parseManifestReference('latest')).toEqual({ kind: 'tag', value: 'latest' });
  });

  it('reads a value with a colon as a digest', () => {
    expect(parseManifestReference(SHA256)).toEqual({ kind: 'digest', value: SHA256 });
  });

  it('accepts a well-formed digest of an unregistered algorithm (checked later, where it matters)', () => {
    expect(parseManifestReference('sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564')).toEqual({
      kind: 'digest',
      value: 'sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564',
    });
  });

  it.each([
    ['an empty encoded part', 'sha256:'],
    ['an empty algorithm', ':abc'],
    ['an uppercase algorithm', `SHA256:${'a'.repeat(64)}`],
    ['a tag-like value with a colon', 'v1:latest/x'],
  ])('rejects a malformed digest (%s) with DIGEST_INVALID', (_, value) => {
    expectOciError(() => parseManifestReference(value), 'DIGEST_INVALID', 400);
  });

  it.each([
    ['an empty reference', ''],
    ['a leading dash', '-x'],
    ['129 characters', 'a'.repeat(129)],
  ])('rejects an invalid tag (%s) with TAG_INVALID', (_, value) => {
    expectOciError(() => parseManifestReference(value), 'TAG_INVALID', 400);
  });
});
