import { globToRegExp, matchesGlob, REPOSITORY_GLOB } from './repository-glob';

describe(matchesGlob.name, () => {
  it.each(['a', 'library/ubuntu', 'myorg/team/app', 'a.b-c_d/e'])('matches every repository with * (%s)', (repository) => {
    expect(matchesGlob('*', repository)).toBe(true);
  });

  it('matches everything under a prefix with myorg/*, nested paths included', () => {
    expect(matchesGlob('myorg/*', 'myorg/app')).toBe(true);
    expect(matchesGlob('myorg/*', 'myorg/team/app')).toBe(true);
    expect(matchesGlob('myorg/*', 'myorg/a/b/c/d')).toBe(true);
  });

  it('does not match the prefix itself, a sibling sharing its start or another organisation', () => {
    expect(matchesGlob('myorg/*', 'myorg')).toBe(false);
    expect(matchesGlob('myorg/*', 'myorg2/app')).toBe(false);
    expect(matchesGlob('myorg/*', 'myorgx')).toBe(false);
    expect(matchesGlob('myorg/*', 'other/myorg/app')).toBe(false);
  });

  it('matches a suffix at any depth with */app', () => {
    expect(matchesGlob('*/app', 'myorg/app')).toBe(true);
    expect(matchesGlob('*/app', 'a/b/c/app')).toBe(true);
    expect(matchesGlob('*/app', 'app')).toBe(false);
    expect(matchesGlob('*/app', 'myorg/app2')).toBe(false);
    expect(matchesGlob('*/app', 'myorg/webapp')).toBe(false);
  });

  it('matches any run of characters, the empty run and slashes included, with a*b', () => {
    expect(matchesGlob('a*b', 'ab')).toBe(true);
    expect(matchesGlob('a*b', 'axyzb')).toBe(true);
    expect(matchesGlob('a*b', 'a/x/b')).toBe(true);
    expect(matchesGlob('a*b', 'ba')).toBe(false);
    expect(matchesGlob('a*b', 'abc')).toBe(false);
    expect(matchesGlob('a*b', 'xab')).toBe(false);
  });

  it('supports several stars in one glob', () => {
    expect(matchesGlob('*/team-*/*', 'org/team-a/app')).toBe(true);
    expect(matchesGlob('*/team-*/*', 'org/team-a')).toBe(false);
    expect(matchesGlob('*/team-*/*', 'org/squad-a/app')).toBe(false);
  });

  it('matches a glob without a star only exactly, never partially', () => {
    expect(matchesGlob('library/ubuntu', 'library/ubuntu')).toBe(true);
    expect(matchesGlob('library/ubuntu', 'library/ubuntu2')).toBe(false);
    expect(matchesGlob('library/ubuntu', 'xlibrary/ubuntu')).toBe(false);
    expect(matchesGlob('library/ubuntu', 'library/ubuntu/sub')).toBe(false);
    expect(matchesGlob('library/ubuntu', 'library')).toBe(false);
    expect(matchesGlob('ubuntu', 'library/ubuntu')).toBe(false);
  });

  it('takes a dot literally, not as any character', () => {
    expect(matchesGlob('a.b', 'a.b')).toBe(true);
    expect(matchesGlob('a.b', 'axb')).toBe(false);
    expect(matchesGlob('my.org/*', 'myxorg/app')).toBe(false);
    expect(matchesGlob('my.org/*', 'my.org/app')).toBe(true);
  });

  it.each([
    ['a+b', 'a+b', 'aab'],
    ['a?b', 'a?b', 'b'],
    ['(a|b)', '(a|b)', 'a'],
    ['[ab]', '[ab]', 'a'],
    ['a{2}', 'a{2}', 'aa'],
    ['^a$', '^a$', 'a'],
    ['a\\d', 'a\\d', 'a1'],
  ])('takes the regular-expression metacharacters of %s literally', (glob, literal, regexMeaning) => {
    expect(matchesGlob(glob, literal)).toBe(true);
    expect(matchesGlob(glob, regexMeaning)).toBe(false);
  });

  it('does not let a newline slip past the anchors', () => {
    expect(matchesGlob('a', 'a\nb')).toBe(false);
    expect(matchesGlob('a/*', 'a/x\ny')).toBe(true);
  });
});

describe(globToRegExp.name, () => {
  it('compiles * to .* between anchors and escapes the rest', () => {
    expect(globToRegExp('a.b*').source).toBe('^a\\.b.*$');
  });

  it('returns the cached expression for a glob it has compiled', () => {
    expect(globToRegExp('cached/*')).toBe(globToRegExp('cached/*'));
  });
});

describe('REPOSITORY_GLOB', () => {
  it.each(['*', 'myorg/*', '*/app', 'a*b', 'library/ubuntu', 'a.b_c-d/e', '0', `a${'b'.repeat(254)}`])('accepts %s', (glob) => {
    expect(REPOSITORY_GLOB.test(glob)).toBe(true);
  });

  it.each([
    ['an empty glob', ''],
    ['upper case', 'MyOrg/*'],
    ['a leading slash', '/myorg'],
    ['a leading dot', '.a'],
    ['a leading dash', '-a'],
    ['a leading underscore', '_a'],
    ['a space', 'a b'],
    ['a question mark', 'a?b'],
    ['a plus', 'a+b'],
    ['a colon (host:port)', 'localhost:5000/a'],
    ['a newline', 'a\nb'],
    ['more than 255 characters', `a${'b'.repeat(255)}`],
  ])('rejects %s', (_, glob) => {
    expect(REPOSITORY_GLOB.test(glob)).toBe(false);
  });
});
