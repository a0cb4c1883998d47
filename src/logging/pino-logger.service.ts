import type { LoggerService } from '@nestjs/common';
import type { Level, Logger } from 'pino';

/** Nest start-up chatter (one line per module and per route) that says nothing an operator needs: debug, not info. */
const CHATTY_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer']);

const STACK = /\n\s+at /;

/**
 * Nest's LoggerService over pino, so `new Logger(ctx).log(…)` everywhere, and Nest's own
 * start-up and exception logs, come out as JSON lines: `{"level":"info",…,"context":"Auth","msg":"…"}`.
 * Follows Nest's calling convention: the last string argument is the context, and for
 * `error` a string before it (or a lone stack-shaped string) is the stack. Errors go under
 * `err` (pino's serializer), plain objects are merged into the line: a line logged on a
 * request's behalf passes `{ requestId }` (or logs through `req.log`, the request's child logger).
 * No AsyncLocalStorage on purpose: on Node 20 it costs ~20% of blob streaming throughput.
 */
export class PinoLoggerService implements LoggerService {
  constructor(private readonly root: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: Level, message: unknown, params: unknown[]): void {
    const logger = this.root;
    let rest = params;
    let context: string | undefined;
    const last = rest[rest.length - 1];
    if (typeof last === 'string' && !(level === 'error' && rest.length === 1 && STACK.test(last))) {
      context = last;
      rest = rest.slice(0, -1);
    }
    if (level === 'info' && context !== undefined && CHATTY_CONTEXTS.has(context)) level = 'debug';
    if (!logger.isLevelEnabled(level)) return;

    const fields: Record<string, unknown> = {};
    for (const [i, param] of rest.entries()) {
      if (param instanceof Error) fields['err'] = param;
      else if (typeof param === 'string' && i === 0 && level === 'error') fields['stack'] = param;
      else if (typeof param === 'object' && param !== null) Object.assign(fields, param);
      else if (param !== undefined) fields[`arg${i}`] = param;
    }
    let text: string | undefined;
    if (message instanceof Error) {
      fields['err'] = message;
      text = message.message;
    } else if (typeof message === 'object' && message !== null) {
      Object.assign(fields, message);
    } else {
      text = String(message);
    }
    if (context !== undefined) fields['context'] = context;
    logger[level](fields, text);
  }
}
