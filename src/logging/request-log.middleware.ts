import type { NextFunction, Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Level, Logger } from 'pino';
import { actorOf, type PrincipalRequest, type RegistryAction } from '../access/access.types';
import { parseV2Path, type V2Kind, type V2Path, type V2Request } from '../common/oci/v2-path';
import type { RegistryConfig } from '../config/registry-config';
import { LOG_CENSOR, SECRET_FIELDS } from './redaction';

/**
 * One JSON line per HTTP request, written when the response is finished (or the connection
 * dropped), plus the request id every other line logged while serving it carries:
 *
 *   {"level":"info","time":"…","pid":1,"hostname":"…","requestId":"…","method":"GET",
 *    "path":"/v2/team/app/blobs/sha256:…","status":200,"requestBytes":312,"responseBytes":1426,
 *    "durationMs":1.8,"client":"10.0.0.7","user":"alice","repository":"team/app","action":"pull",
 *    "userAgent":"docker/27.0.3 …","msg":"request completed"}
 *
 * The line is built here, flat, from what the request already holds (the parsed v2 path, the
 * principal): no request or response serializer, no headers, never a body. Probes (/healthz,
 * /readyz, /metrics) log at debug, 5xx at error. (pino-http did this before; it built two
 * child loggers and a serializer chain per request, a few percent of a manifest GET's CPU.)
 */

export type RequestLogRequest = Request & PrincipalRequest & V2Request;

const REQUEST_ID_HEADER = 'X-Request-Id';
/** An incoming id is kept when it is printable ASCII and at most 128 characters; else a UUID replaces it. */
const SANE_REQUEST_ID = /^[\x20-\x7e]{1,128}$/;
const PROBES = new Set(['/healthz', '/readyz', '/metrics']);
const USER_AGENT_MAX = 256;

/** The request id to use: the client's `X-Request-Id` when sane, else a fresh UUID. */
export function chooseRequestId(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** The registry action a request performs: what the access guard checks for it (upload routes, cancel included, are a push). */
export function actionOf(method: string, kind: V2Kind): RegistryAction | undefined {
  if (kind === 'upload' || kind === 'uploadStart') return 'push';
  switch (method) {
    case 'GET':
    case 'HEAD':
      return 'pull';
    case 'PUT':
    case 'POST':
    case 'PATCH':
      return 'push';
    case 'DELETE':
      return 'delete';
    default:
      return undefined;
  }
}

const SECRET_QUERY_KEYS = new Set<string>(SECRET_FIELDS);
/** Cheap pre-check: a query that mentions none of these (nor any %-escape) is logged as is. */
const SECRET_QUERY_HINT = new RegExp(`${SECRET_FIELDS.join('|')}|%`, 'i');

/**
 * The query string as logged: as is, unless a parameter is named like a secret (`password`,
 * `token`…, however encoded), whose value is then censored. The token endpoint's `scope`,
 * `service`, `account` and `offline_token` are kept.
 */
export function safeQuery(query: string): string {
  if (!SECRET_QUERY_HINT.test(query)) return query;
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const rawKey = eq === -1 ? pair : pair.slice(0, eq);
      let key = rawKey.replace(/\+/g, ' ');
      try {
        key = decodeURIComponent(key);
      } catch {
        // a malformed escape: judge the raw name
      }
      return SECRET_QUERY_KEYS.has(key.toLowerCase()) ? `${rawKey}=${LOG_CENSOR}` : pair;
    })
    .join('&');
}

/** The request line's fields (pino drops the undefined ones). */
export interface RequestSummary {
  method: string;
  path: string;
  query: string | undefined;
  status: number;
  /** Bytes read from the connection for this request, request line and headers included. */
  requestBytes: number;
  /** Bytes written to the connection for this response, status line and headers included. */
  responseBytes: number;
  durationMs: number;
  client: string | undefined;
  user: string | undefined;
  repository: string | undefined;
  action: RegistryAction | undefined;
  userAgent: string | undefined;
  /** Set when the connection closed before the response was complete. */
  aborted: true | undefined;
}

const STARTED_AT = Symbol('requestLogStartedAt');
const READ_MARK = Symbol('requestLogBytesRead');
const WRITTEN_MARK = Symbol('requestLogBytesWritten');
type TimedRequest = RequestLogRequest & { [STARTED_AT]?: number };
/** A connection remembers its byte counters as of the end of its previous request, so each request counts only its own bytes. */
type MarkedSocket = Socket & { [READ_MARK]?: number; [WRITTEN_MARK]?: number };

/** The repository route of a request: parsed by the guard or the controller already, else parsed here (never throws). */
function routeOf(req: RequestLogRequest, path: string): V2Path | undefined {
  if (req.v2 !== undefined) return req.v2;
  if (!path.startsWith('/v2/')) return undefined;
  try {
    return parseV2Path(path);
  } catch {
    return undefined;
  }
}

/**
 * The request line of a finished (or aborted) request. Also moves the connection's byte marks
 * past this request, so it is called once per request (the middleware calls it when the response ends).
 */
export function summarizeRequest(req: RequestLogRequest, res: ServerResponse): RequestSummary {
  const url = req.originalUrl ?? req.url;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const route = routeOf(req, path);
  const socket = req.socket as MarkedSocket;
  const read = socket.bytesRead;
  const written = socket.bytesWritten;
  const requestBytes = read - (socket[READ_MARK] ?? 0);
  const responseBytes = written - (socket[WRITTEN_MARK] ?? 0);
  socket[READ_MARK] = read;
  socket[WRITTEN_MARK] = written;
  const startedAt = (req as TimedRequest)[STARTED_AT];
  const userAgent = req.headers['user-agent'];
  return {
    method: req.method,
    path,
    query: q === -1 ? undefined : safeQuery(url.slice(q + 1)),
    status: res.statusCode,
    requestBytes,
    responseBytes,
    durationMs: startedAt === undefined ? 0 : Math.round((performance.now() - startedAt) * 10) / 10,
    client: req.ip,
    user: actorOf(req.principal),
    repository: route?.name,
    action: route ? actionOf(req.method, route.kind) : undefined,
    userAgent: userAgent !== undefined && userAgent.length > USER_AGENT_MAX ? userAgent.slice(0, USER_AGENT_MAX) : userAgent,
    aborted: res.writableEnded ? undefined : true,
  };
}

/** 5xx and failures at error, probes at debug (no noise at info), everything else at info. */
function levelOf(req: IncomingMessage, res: ServerResponse, error?: Error): Level {
  if (error !== undefined || res.statusCode >= 500) return 'error';
  const url = (req as Request).originalUrl ?? req.url ?? '';
  const q = url.indexOf('?');
  return PROBES.has(q === -1 ? url : url.slice(0, q)) ? 'debug' : 'info';
}

const ROOT_LOGGER = Symbol('rootLogger');
const REQUEST_LOGGER = Symbol('requestLogger');
type LoggedRequest = IncomingMessage & { [ROOT_LOGGER]: Logger; [REQUEST_LOGGER]?: Logger };

/** `req.log`: the root logger's child that carries the request id, made on first use (most requests never log). */
function requestLogger(this: LoggedRequest): Logger {
  return (this[REQUEST_LOGGER] ??= this[ROOT_LOGGER].child({ requestId: this.id }));
}

/**
 * Puts the `req.log` getter on the app's request prototype (Express gives each app its own,
 * and sets it before any middleware runs), once, instead of on every request.
 */
function installRequestLogger(req: IncomingMessage, root: Logger): void {
  const proto = Object.getPrototypeOf(req) as object;
  if (Object.prototype.hasOwnProperty.call(proto, ROOT_LOGGER)) return;
  Object.defineProperty(proto, ROOT_LOGGER, { value: root });
  Object.defineProperty(proto, 'log', { get: requestLogger, configurable: true });
}

/**
 * The Express middleware, mounted first so that every request gets an id and a line, those
 * refused early included. With `log.requests` off, requests still get ids (echoed, and on
 * every line logged while serving them) but no request line. Per request it costs an id, a
 * header and (when lines are on) two listeners: the child logger behind `req.log` is made
 * only when something logs through it.
 */
export function createRequestLogMiddleware(root: Logger, options: RegistryConfig['log']): (req: Request, res: Response, next: NextFunction) => void {
  return (req, res, next) => {
    const id = chooseRequestId(req.headers['x-request-id']);
    res.setHeader(REQUEST_ID_HEADER, id);
    req.id = id;
    installRequestLogger(req, root);
    if (options.requests) {
      (req as TimedRequest)[STARTED_AT] = performance.now();
      const complete = (): void => {
        res.off('finish', complete);
        res.off('close', complete);
        const level = levelOf(req, res);
        const summary = summarizeRequest(req as RequestLogRequest, res);
        const message = res.statusCode >= 500 ? 'request errored' : summary.aborted ? 'request aborted' : 'request completed';
        if (root.isLevelEnabled(level)) root[level]({ requestId: id, ...summary }, message);
      };
      res.on('finish', complete);
      res.on('close', complete);
    }
    next();
  };
}

declare module 'http' {
  interface IncomingMessage {
    /** The request id (X-Request-Id), set by the request-log middleware. */
    id: string;
    /** A logger whose lines carry the request id. */
    log: Logger;
  }
}
