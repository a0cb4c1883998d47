import pino, { type DestinationStream, type LevelWithSilent, type Logger } from 'pino';
import { censorSecretsInLine, LOG_CENSOR, REDACT_PATHS } from './redaction';

let stdout: DestinationStream | undefined;

/** One asynchronous stdout writer per process (pino flushes it on exit), however many apps a process builds. */
function stdoutDestination(): DestinationStream {
  stdout ??= pino.destination({ dest: 1, sync: false });
  return stdout;
}

/**
 * The application's one pino logger: JSON lines (`level` as its name, `time` in ISO 8601),
 * secrets redacted (see redaction.ts), to `destination` or stdout. Request lines and `req.log`
 * go to it (request-log.middleware.ts), and Nest's own logs reach it through PinoLoggerService.
 */
export function createRootLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACT_PATHS], censor: LOG_CENSOR },
      hooks: { streamWrite: censorSecretsInLine },
    },
    destination ?? stdoutDestination(),
  );
}
