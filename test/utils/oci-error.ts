import { OciError, OciErrorCode } from '../../src/common/errors/oci-error';

/** Runs `fn`, expecting it to throw; answers what it threw. */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw, but it returned');
}

/** Asserts that `fn` throws an OciError with `code` (and `status`, when given); answers the error. */
export function expectOciError(fn: () => unknown, code: OciErrorCode, status?: number): OciError {
  const error = thrownBy(fn);
  expect(error).toBeInstanceOf(OciError);
  const oci = error as OciError;
  expect(oci.code).toBe(code);
  if (status !== undefined) expect(oci.status).toBe(status);
  return oci;
}
