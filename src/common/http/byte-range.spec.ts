import { expectOciError } from '../../../test/utils/oci-error';
import { parseByteRange, parseContentRange } from './byte-range';

/** Conformance's ranges assume a blob of more than 2000 and fewer than 5000 bytes. */
const SIZE = 3000;

describe(parseByteRange.name, () => {
  it('answers a closed range as is', () => {
    expect(parseByteRange('bytes=500-1499', SIZE)).toEqual({ start: 500, end: 1499 });
  });

  it('reads an open range to the last byte', () => {
    expect(parseByteRange('bytes=500-', SIZE)).toEqual({ start: 500, end: SIZE - 1 });
  });

  it('reads a suffix range as the last n bytes', () => {
    expect(parseByteRange('bytes=-500', SIZE)).toEqual({ start: SIZE - 500, end: SIZE - 1 });
  });

  it('clamps a suffix longer than the object to the whole object', () => {
    expect(parseByteRange('bytes=-5000', SIZE)).toEqual({ start: 0, end: SIZE - 1 });
  });

  it('clamps an end past the object to the last byte', () => {
    expect(parseByteRange('bytes=2000-5000', SIZE)).toEqual({ start: 2000, end: SIZE - 1 });
  });

  it('clamps an end far beyond a safe integer to the last byte', () => {
    expect(parseByteRange('bytes=0-99999999999999999999999', SIZE)).toEqual({ start: 0, end: SIZE - 1 });
  });

  it('serves a single byte', () => {
    expect(parseByteRange('bytes=0-0', SIZE)).toEqual({ start: 0, end: 0 });
    expect(parseByteRange(`bytes=${SIZE - 1}-${SIZE - 1}`, SIZE)).toEqual({ start: SIZE - 1, end: SIZE - 1 });
  });

  it('tolerates case and whitespace around the parts', () => {
    expect(parseByteRange(' Bytes = 1 - 2 ', SIZE)).toEqual({ start: 1, end: 2 });
  });

  it.each([
    ['a start past the object', 'bytes=5000-10000'],
    ['a start equal to the size', `bytes=${SIZE}-`],
    ['an end before the start', 'bytes=500-0'],
    ['a suffix of zero', 'bytes=-0'],
    ['a start beyond a safe integer', 'bytes=99999999999999999999-'],
  ])('refuses %s with 416 and the object size in Content-Range', (_, header) => {
    const error = expectOciError(() => parseByteRange(header, SIZE), 'RANGE_INVALID', 416);
    expect(error.headers).toEqual({ 'Content-Range': `bytes */${SIZE}` });
  });

  it('refuses every range of an empty object with 416', () => {
    expectOciError(() => parseByteRange('bytes=0-', 0), 'RANGE_INVALID', 416);
    expectOciError(() => parseByteRange('bytes=0-0', 0), 'RANGE_INVALID', 416);
    expectOciError(() => parseByteRange('bytes=-1', 0), 'RANGE_INVALID', 416);
  });

  it('answers undefined (serve everything) when there is no header', () => {
    expect(parseByteRange(undefined, SIZE)).toBeUndefined();
    expect(parseByteRange('', SIZE)).toBeUndefined();
  });

  it('answers undefined for a range with neither start nor end', () => {
    expect(parseByteRange('bytes=-', SIZE)).toBeUndefined();
  });

  it.each([
    ['another unit', 'items=0-1'],
    ['letters', 'bytes=a-b'],
    ['a negative start', 'bytes=--5'],
    ['no dash', 'bytes=5'],
    ['no unit', '0-1'],
    ['a multi-range request', 'bytes=0-1,5-6'],
    ['a fractional position', 'bytes=0.5-1'],
  ])('ignores a garbage header (%s) and serves everything', (_, header) => {
    expect(parseByteRange(header, SIZE)).toBeUndefined();
  });
});

describe(parseContentRange.name, () => {
  it('answers undefined when there is no header', () => {
    expect(parseContentRange(undefined)).toBeUndefined();
  });

  it('reads an inclusive start-end range', () => {
    expect(parseContentRange('0-99')).toEqual({ start: 0, end: 99 });
    expect(parseContentRange('100-100')).toEqual({ start: 100, end: 100 });
  });

  it.each([['bytes 0-99'], ['bytes=0-99'], ['0-99/100'], ['0-99/*'], ['bytes 0-99/100'], [' 0-99 '], ['BYTES 0-99']])(
    'tolerates the RFC form %j',
    (header) => {
      expect(parseContentRange(header)).toEqual({ start: 0, end: 99 });
    },
  );

  it('refuses an end before the start with BLOB_UPLOAD_INVALID and 416', () => {
    expectOciError(() => parseContentRange('99-0'), 'BLOB_UPLOAD_INVALID', 416);
  });

  it('refuses positions beyond a safe integer', () => {
    expectOciError(() => parseContentRange('0-99999999999999999999'), 'BLOB_UPLOAD_INVALID', 416);
  });

  it.each([[''], ['abc'], ['0-'], ['-5'], ['0-99,100-199'], ['bytes */100'], ['0 - 99'], ['0-99/abc']])(
    'refuses the malformed header %j with BLOB_UPLOAD_INVALID and 416',
    (header) => {
      expectOciError(() => parseContentRange(header), 'BLOB_UPLOAD_INVALID', 416);
    },
  );

  it('keeps the error detail short for a huge header', () => {
    const error = expectOciError(() => parseContentRange('x'.repeat(10_000)), 'BLOB_UPLOAD_INVALID');
    expect(JSON.stringify(error.detail).length).toBeLessThan(200);
  });
});
