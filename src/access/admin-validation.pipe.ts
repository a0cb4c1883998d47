import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { OciError } from '../common/errors/oci-error';

function fieldErrors(errors: ValidationError[], prefix = ''): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of errors) {
    const path = prefix + e.property;
    if (e.constraints) out[path] = Object.values(e.constraints);
    Object.assign(out, fieldErrors(e.children ?? [], `${path}.`));
  }
  return out;
}

/**
 * Validates admin REST bodies against their DTO: unknown fields are refused, and every
 * problem is answered at once as 400 INVALID_REQUEST with `detail.fields` (field → messages).
 */
export const adminValidationPipe = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  exceptionFactory: (errors) => {
    const fields = fieldErrors(errors);
    return OciError.invalidRequest(`invalid request: ${Object.keys(fields).join(', ')}`, { fields });
  },
});
