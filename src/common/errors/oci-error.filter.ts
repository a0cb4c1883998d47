import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { OciError } from './oci-error';

/** Maps anything thrown to an OCI error; Nest's own HttpExceptions keep their status. */
export function toOciError(exception: unknown): OciError {
  if (exception instanceof OciError) return exception;
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    if (status === 404) return new OciError('UNSUPPORTED', undefined, 404, {}, 'no such route');
    if (status === 405) return new OciError('UNSUPPORTED', undefined, 405);
    if (status === 413) return new OciError('SIZE_INVALID', undefined, 413, {}, 'request body too large');
    if (status === 400) return OciError.invalidRequest(`malformed request: ${exception.message}`);
    if (status < 500) return new OciError('UNSUPPORTED', undefined, status, {}, exception.message);
  }
  return new OciError('UNKNOWN');
}

const CLIENT_GONE_CODES = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/**
 * True when the failure is the client hanging up (an aborted upload or download), which is
 * not a server error: nothing to log, nobody to answer. Looks through wrapped causes.
 */
function isClientGone(exception: unknown, req: Request, res: Response): boolean {
  if (res.destroyed || (req.destroyed && !req.complete)) return true;
  for (let e: unknown = exception, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if ((code && CLIENT_GONE_CODES.has(code)) || e.message === 'aborted') return true;
  }
  return false;
}

/**
 * The one place error responses are written: `{"errors":[{code,message,detail}]}` with JSON
 * content type and the API version header; no body on HEAD; a failure after the headers went
 * out (mid-stream) cuts the connection so the client sees a truncated body, never a wrong one.
 */
@Catch()
export class OciErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(OciErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const req = host.switchToHttp().getRequest<Request>();
    const res = host.switchToHttp().getResponse<Response>();
    const error = toOciError(exception);
    const clientWentAway = isClientGone(exception, req, res);
    if (error.code === 'UNKNOWN' && !clientWentAway) {
      const requestId = (req as Request & { id?: unknown }).id; // the request-log middleware's, echoed as X-Request-Id
      this.logger.error(`${req.method} ${req.path} failed`, exception instanceof Error ? exception.stack : String(exception), { requestId });
    }
    if (res.headersSent || clientWentAway) {
      res.destroy();
      return;
    }
    // A request body we did not read must not be left on a keep-alive connection (a GET
    // without a body is not "complete" until read either, and keeps its connection).
    const declaresBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (declaresBody && !req.complete) res.setHeader('Connection', 'close');
    res.status(error.status);
    for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const body = JSON.stringify({ errors: [error] });
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
  }
}
