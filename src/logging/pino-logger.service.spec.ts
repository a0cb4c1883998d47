import { Logger } from '@nestjs/common';
import { PinoLoggerService } from './pino-logger.service';
import { createRootLogger } from './root-logger';

function setup(level: 'info' | 'debug' = 'info'): { service: PinoLoggerService; root: ReturnType<typeof createRootLogger>; records: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const root = createRootLogger(level, { write: (line: string) => void lines.push(line) });
  return { service: new PinoLoggerService(root), root, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe(PinoLoggerService.name, () => {
  it('writes Nest log calls as JSON lines with their level, context and message', () => {
    const { service, records } = setup();
    service.log('listening', 'Registry');
    service.warn('careful', 'Auth');
    service.debug('hidden at info', 'Auth');
    expect(records()).toEqual([
      expect.objectContaining({ level: 'info', context: 'Registry', msg: 'listening', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) }),
      expect.objectContaining({ level: 'warn', context: 'Auth', msg: 'careful' }),
    ]);
  });

  it("follows Nest's error convention: (message, stack, context), a lone stack, an Error, and a context-only call", () => {
    const { service, records } = setup();
    const stack = 'Error: boom\n    at handler (/app/x.js:1:1)';
    service.error('GET /v2/a/b/blobs/x failed', stack, 'OciErrorFilter');
    service.error('unhandled', stack);
    service.error(new Error('thrown'), 'GcService');
    service.error('no stack', undefined, 'Shutdown');
    expect(records()).toEqual([
      expect.objectContaining({ level: 'error', context: 'OciErrorFilter', stack, msg: 'GET /v2/a/b/blobs/x failed' }),
      expect.objectContaining({ level: 'error', stack, msg: 'unhandled' }),
      expect.objectContaining({ level: 'error', context: 'GcService', msg: 'thrown', err: expect.objectContaining({ type: 'Error', message: 'thrown' }) }),
      expect.objectContaining({ level: 'error', context: 'Shutdown', msg: 'no stack' }),
    ]);
    expect(records()[1]).not.toHaveProperty('context');
  });

  it('merges object messages and object parameters into the line', () => {
    const { service, records } = setup();
    service.log({ event: 'gc.pass', deleted: 3 }, 'GcService');
    service.warn('slow', { ms: 1200 }, 'CheckedDriver');
    expect(records()).toEqual([
      expect.objectContaining({ level: 'info', context: 'GcService', event: 'gc.pass', deleted: 3 }),
      expect.objectContaining({ level: 'warn', context: 'CheckedDriver', ms: 1200, msg: 'slow' }),
    ]);
  });

  it("logs Nest's per-module and per-route start-up lines at debug, not info", () => {
    const quiet = setup('info');
    quiet.service.log('AppModule dependencies initialized', 'InstanceLoader');
    quiet.service.log('Mapped {/v2, GET} route', 'RouterExplorer');
    quiet.service.log('Nest application successfully started', 'NestApplication');
    expect(quiet.records().map((r) => r['context'])).toEqual(['NestApplication']);
    const verbose = setup('debug');
    verbose.service.log('Mapped {/v2, GET} route', 'RouterExplorer');
    expect(verbose.records()).toEqual([expect.objectContaining({ level: 'debug', context: 'RouterExplorer' })]);
  });

  it('merges a request id passed as a field into the line (how lines logged for a request carry it), with the stack', () => {
    const { service, records } = setup();
    service.error('failed', 'Error: boom\n    at x (y.js:1:1)', { requestId: 'req-42' }, 'OciErrorFilter');
    service.log('outside', 'Registry');
    expect(records()).toEqual([
      expect.objectContaining({ requestId: 'req-42', msg: 'failed', context: 'OciErrorFilter', stack: expect.stringContaining('boom') }),
      expect.not.objectContaining({ requestId: expect.anything() }),
    ]);
  });

  it("receives the static Nest Logger's calls once installed, context included", () => {
    const { service, records } = setup();
    Logger.overrideLogger(service);
    try {
      new Logger('Auth').warn('throttled');
      new Logger('OciErrorFilter').error('boom', 'Error: boom\n    at x (y.js:1:1)');
    } finally {
      Logger.overrideLogger(false);
    }
    expect(records()).toEqual([
      expect.objectContaining({ level: 'warn', context: 'Auth', msg: 'throttled' }),
      expect.objectContaining({ level: 'error', context: 'OciErrorFilter', msg: 'boom', stack: 'Error: boom\n    at x (y.js:1:1)' }),
    ]);
  });
});
