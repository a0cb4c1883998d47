/**
 * Requests that take their time: a body written chunk by chunk on a timer (a slow but steady
 * upload), or one that stops sending and never ends (a stalled client). Each runs on its own
 * connection (node:http, no agent), so the server sees exactly one request per socket.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { RawResponse } from './oci-client';

export interface StreamingRequest {
  /** The whole response; rejects when the connection is cut before one arrives. */
  response: Promise<RawResponse>;
  /** Body bytes written to the socket so far. */
  sent(): number;
  /** Resolves once every chunk was written (and the request ended, unless `end: false`). */
  written: Promise<void>;
  /** When the response (or the connection's end) arrived: Date.now(), or undefined before. */
  settledAt(): number | undefined;
  /** Cuts the connection (client side). */
  destroy(): void;
}

export interface StreamingOptions {
  method: string;
  path: string;
  headers?: Record<string, string>;
  /** Written one per `intervalMs`, the first right away. */
  chunks: Buffer[];
  intervalMs: number;
  /** Content-Length to declare (default: the sum of the chunks); more than that and the body never completes. */
  declaredLength?: number;
  /** End the request after the last chunk (default true); false leaves it hanging, mid-body. */
  end?: boolean;
}

export function streamingRequest(baseUrl: string, opts: StreamingOptions): StreamingRequest {
  const url = new URL(baseUrl);
  const total = opts.chunks.reduce((n, c) => n + c.length, 0);
  let sent = 0;
  let settledAt: number | undefined;
  let stopped = false;
  const request = http.request({
    host: url.hostname,
    port: url.port,
    method: opts.method,
    path: opts.path,
    headers: { ...opts.headers, 'Content-Length': String(opts.declaredLength ?? total) },
    agent: false,
  });
  const response = new Promise<RawResponse>((resolve, reject) => {
    request.once('error', (error) => {
      settledAt ??= Date.now();
      reject(error);
    });
    request.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('error', reject);
      res.once('end', () => {
        settledAt ??= Date.now();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) });
      });
    });
  });
  response.catch(() => undefined); // callers await it; don't let an early cut count as unhandled
  const written = (async () => {
    for (const [i, chunk] of opts.chunks.entries()) {
      if (i > 0) await new Promise((r) => setTimeout(r, opts.intervalMs));
      if (stopped || request.destroyed) return;
      await new Promise<void>((resolve) => request.write(chunk, () => resolve()));
      sent += chunk.length;
    }
    if (opts.end !== false && !request.destroyed) request.end();
  })();
  written.catch(() => undefined);
  return {
    response,
    sent: () => sent,
    written,
    settledAt: () => settledAt,
    destroy: () => {
      stopped = true;
      request.destroy();
    },
  };
}

/** `data` (from `offset` on) cut into chunks of `size` bytes (the last may be shorter). */
export function chunksOf(data: Buffer, size: number, offset = 0): Buffer[] {
  const out: Buffer[] = [];
  for (let i = offset; i < data.length; i += size) out.push(data.subarray(i, Math.min(i + size, data.length)));
  return out;
}

/** Resolves true when a new TCP connection to 127.0.0.1:port is refused, false when it is accepted (then closed). */
export function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') resolve(true);
      else if (error.code === 'ECONNRESET') resolve(false); // accepted, then closed: not refused
      else reject(error);
    });
  });
}
