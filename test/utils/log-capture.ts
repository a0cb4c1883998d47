import type { DestinationStream } from 'pino';

/** One parsed log line. */
export type LogRecord = Record<string, unknown> & { level: string; msg?: string };

/**
 * A pino destination that keeps what the registry logs, for specs that read the server's log
 * (`startRegistry({ logDestination: capture })`). `text` is the raw output, exactly as it would
 * have reached stdout; `records` parses it, one JSON object per line (a line that is not JSON fails).
 */
export class LogCapture implements DestinationStream {
  private readonly chunks: string[] = [];

  write(chunk: string): void {
    this.chunks.push(chunk);
  }

  get text(): string {
    return this.chunks.join('');
  }

  get records(): LogRecord[] {
    return this.text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        try {
          return JSON.parse(line) as LogRecord;
        } catch {
          throw new Error(`not a JSON log line: ${line.slice(0, 200)}`);
        }
      });
  }

  /** The request lines (one per HTTP request), in order of completion. */
  get requests(): LogRecord[] {
    return this.records.filter((r) => typeof r['status'] === 'number' && typeof r['method'] === 'string');
  }
}
