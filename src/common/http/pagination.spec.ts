import { expectOciError } from '../../../test/utils/oci-error';
import { nextLink, parsePage } from './pagination';

const MAX = 100;

describe(parsePage.name, () => {
  it('answers no page size and no cursor for an empty query', () => {
    const page = parsePage({}, MAX);
    expect(page.n).toBeUndefined();
    expect(page.last).toBeUndefined();
  });

  it('reads n and last', () => {
    expect(parsePage({ n: '10', last: 'v1' }, MAX)).toEqual({ n: 10, last: 'v1' });
  });

  it('accepts n=0 (an empty page)', () => {
    expect(parsePage({ n: '0' }, MAX)).toEqual({ n: 0, last: undefined });
  });

  it('caps n at the maximum page size', () => {
    expect(parsePage({ n: '1000' }, MAX)).toEqual({ n: MAX, last: undefined });
    expect(parsePage({ n: '99999999999999999999999' }, MAX).n).toBe(MAX);
  });

  it('treats an empty n as absent', () => {
    expect(parsePage({ n: '' }, MAX).n).toBeUndefined();
  });

  it('treats an empty last as absent', () => {
    expect(parsePage({ n: '5', last: '' }, MAX)).toEqual({ n: 5, last: undefined });
  });

  it.each([['-1'], ['abc'], ['1.5'], ['1e3'], [' 5'], ['0x10']])('rejects n=%j with PAGINATION_NUMBER_INVALID', (n) => {
    const error = expectOciError(() => parsePage({ n }, MAX), 'PAGINATION_NUMBER_INVALID', 400);
    expect(error.detail).toEqual({ n });
  });

  it('ignores repeated parameters (arrays) rather than guessing which one was meant', () => {
    expect(parsePage({ n: ['1', '2'], last: ['a', 'b'] }, MAX)).toEqual({ n: undefined, last: undefined });
  });

  it('keeps a cursor verbatim, whatever it contains', () => {
    expect(parsePage({ last: 'a/b c+d' }, MAX).last).toBe('a/b c+d');
  });
});

describe(nextLink.name, () => {
  it('builds an RFC 8288 next link with n and last', () => {
    expect(nextLink('/v2/a/tags/list', 10, 'v1')).toBe('</v2/a/tags/list?n=10&last=v1>; rel="next"');
  });

  it('percent-encodes the cursor', () => {
    expect(nextLink('/v2/_catalog', 2, 'a/b+c')).toBe('</v2/_catalog?n=2&last=a%2Fb%2Bc>; rel="next"');
  });

  it('produces a link whose query parsePage reads back', () => {
    const link = nextLink('/v2/_catalog', 7, 'org/repo_1');
    const url = new URL(/^<([^>]+)>/.exec(link)![1]!, 'http://registry.test');
    expect(parsePage(Object.fromEntries(url.searchParams), MAX)).toEqual({ n: 7, last: 'org/repo_1' });
  });
});
