import { parseBasic } from './credential.verifier';

const basic = (credentials: string): string => `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;

describe(parseBasic.name, () => {
  it('parses user name and password', () => {
    expect(parseBasic(basic('alice:s3cret'))).toEqual({ user: 'alice', password: 's3cret' });
  });

  it('splits at the first colon, so the password may hold colons', () => {
    expect(parseBasic(basic('alice:a:b::c:'))).toEqual({ user: 'alice', password: 'a:b::c:' });
  });

  it('accepts an empty password', () => {
    expect(parseBasic(basic('alice:'))).toEqual({ user: 'alice', password: '' });
  });

  it('decodes UTF-8 user names and passwords', () => {
    expect(parseBasic(basic('jörg:pässwörd€'))).toEqual({ user: 'jörg', password: 'pässwörd€' });
  });

  it('takes the scheme in any case and tolerates extra spaces around the credentials', () => {
    const encoded = Buffer.from('alice:pw').toString('base64');
    expect(parseBasic(`basic ${encoded}`)).toEqual({ user: 'alice', password: 'pw' });
    expect(parseBasic(`BASIC   ${encoded}  `)).toEqual({ user: 'alice', password: 'pw' });
  });

  it('keeps an access token used as the password intact', () => {
    expect(parseBasic(basic('ci:rat_AbC-_xyz'))).toEqual({ user: 'ci', password: 'rat_AbC-_xyz' });
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['a Bearer header', 'Bearer abc.def.ghi'],
    ['a Digest header', 'Digest username="alice"'],
    ['the scheme alone', 'Basic'],
    ['the scheme and a space', 'Basic '],
    ['the scheme without a space', `Basic${Buffer.from('alice:pw').toString('base64')}`],
    ['characters outside base64', 'Basic YWxp!2U6cHc='],
    ['two credentials', `Basic ${Buffer.from('alice:pw').toString('base64')} ${Buffer.from('bob:pw').toString('base64')}`],
    ['credentials without a colon', basic('alice')],
    ['an empty user name', basic(':s3cret')],
    ['nothing but a colon', basic(':')],
  ])('answers undefined for %s', (_, header) => {
    expect(parseBasic(header)).toBeUndefined();
  });
});
