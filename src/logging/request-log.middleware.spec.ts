import express from 'express';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request as httpRequest, Agent } from 'node:http';
import type { Principal } from '../access/access.types';
import { parseRepositoryName } from '../common/oci/reference';
import { createRootLogger } from './root-logger';
import { actionOf, chooseRequestId, createRequestLogMiddleware, safeQuery, summarizeRequest, type RequestLogRequest } from './request-log.middleware';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('chooseRequestId', () => {
  it('keeps a printable incoming id of up to 128 characters', () => {
    for (const id of ['abc', 'f3b8c1d2-0000-4000-8000-000000000000', 'Root=1-5e1b4151-5ac6c58f; Parent=x', 'x'.repeat(128)]) expect(chooseRequestId(id)).toBe(id);
  });

  it('replaces a missing, empty, too long, non-printable or repeated id with a fresh UUID', () => {
    for (const incoming of [undefined, '', 'x'.repeat(129), 'line\nbreak', 'tab\there', 'nul\u0000', 'é-accent', ['a', 'b']]) {
      expect(chooseRequestId(incoming)).toMatch(UUID);
    }
    expect(chooseRequestId(undefined)).not.toBe(chooseRequestId(undefined));
  });
});

describe('actionOf', () => {
  it('maps methods to the action the access guard checks, upload routes always being a push', () => {
    expect(['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS'].map((m) => actionOf(m, 'manifest'))).toEqual(['pull', 'pull', 'push', 'push', 'push', 'delete', undefined]);
    expect(actionOf('DELETE', 'blob')).toBe('delete');
    expect(actionOf('GET', 'tags')).toBe('pull');
    expect(['GET', 'PATCH', 'PUT', 'DELETE'].map((m) => actionOf(m, 'upload'))).toEqual(['push', 'push', 'push', 'push']);
    expect(actionOf('POST', 'uploadStart')).toBe('push');
  });
});

describe('safeQuery', () => {
  it("keeps queries without secrets as they are (the token endpoint's scope, service, account)", () => {
    for (const query of ['service=registry&scope=repository%3Ateam%2Fapp%3Apull&account=alice&offline_token=true', `digest=${DIGEST}`, 'n=100&last=a%2Fb', 'mount=sha256:x&from=a/b']) {
      expect(safeQuery(query)).toBe(query);
    }
  });

  it('censors parameters named like secrets, however cased or encoded', () => {
    expect(safeQuery('service=x&password=hunter2&scope=a')).toBe('service=x&password=[Redacted]&scope=a');
    expect(safeQuery('Refresh_Token=rrt_abc&access_token=rat_x&client_secret=s')).toBe('Refresh_Token=[Redacted]&access_token=[Redacted]&client_secret=[Redacted]');
    expect(safeQuery('pass%77ord=hunter2&token&secret=%ZZ')).toBe('pass%77ord=[Redacted]&token=[Redacted]&secret=[Redacted]');
  });
});

describe('summarizeRequest', () => {
  const principal: Principal = { kind: 'bearer', subject: 'alice', grants: [] };

  function fakeRequest(overrides: Partial<Record<string, unknown>> = {}): { req: RequestLogRequest; res: ServerResponse } {
    const socket = { bytesRead: 500, bytesWritten: 1500 };
    const req = { method: 'GET', originalUrl: `/v2/team/app/blobs/${DIGEST}`, url: '/', headers: { 'user-agent': 'docker/27.0' }, ip: '10.0.0.7', socket, ...overrides };
    return { req: req as unknown as RequestLogRequest, res: { statusCode: 200, writableEnded: true } as ServerResponse };
  }

  it('summarizes a pull: route, action, user, client, status, bytes and user agent', () => {
    const { req, res } = fakeRequest({ principal });
    expect(summarizeRequest(req, res)).toEqual({
      method: 'GET',
      path: `/v2/team/app/blobs/${DIGEST}`,
      query: undefined,
      status: 200,
      requestBytes: 500,
      responseBytes: 1500,
      durationMs: 0,
      client: '10.0.0.7',
      user: 'alice',
      repository: 'team/app',
      action: 'pull',
      userAgent: 'docker/27.0',
      aborted: undefined,
    });
  });

  it('reuses the path the guard already parsed, and names the action from the route kind', () => {
    const { req, res } = fakeRequest({ method: 'PATCH', originalUrl: '/v2/a/b/c/blobs/uploads/u-1?x=1', v2: { kind: 'upload', name: parseRepositoryName('a/b/c'), ref: 'u-1' } });
    expect(summarizeRequest(req, res)).toMatchObject({ path: '/v2/a/b/c/blobs/uploads/u-1', query: 'x=1', repository: 'a/b/c', action: 'push', user: undefined });
  });

  it('leaves repository and action out for non-repository routes and names that do not parse, without throwing', () => {
    for (const originalUrl of ['/token?service=x', '/v2/', '/v2/_catalog', '/v2/UPPER/case/manifests/v1', '/healthz']) {
      const { req, res } = fakeRequest({ originalUrl });
      expect(summarizeRequest(req, res)).toMatchObject({ repository: undefined, action: undefined });
    }
  });

  it('counts only the bytes of this request on a kept-alive connection, and flags an aborted response', () => {
    const { req, res } = fakeRequest();
    summarizeRequest(req, res);
    Object.assign(req.socket, { bytesRead: 800, bytesWritten: 1600 });
    const second = summarizeRequest(req, { statusCode: 200, writableEnded: false } as ServerResponse);
    expect(second).toMatchObject({ requestBytes: 300, responseBytes: 100, aborted: true });
  });

  it('caps a huge user agent', () => {
    const { req, res } = fakeRequest({ headers: { 'user-agent': 'x'.repeat(5000) } });
    expect(summarizeRequest(req, res).userAgent).toHaveLength(256);
  });
});

describe('createRequestLogMiddleware', () => {
  let lines: string[];
  let baseUrl: string;
  let close: () => Promise<void>;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });

  const records = (): Record<string, unknown>[] => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

  function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${baseUrl}${path}`, { agent, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  beforeAll(async () => {
    lines = [];
    const root = createRootLogger('info', { write: (line: string) => void lines.push(line) });
    const app = express();
    app.use(createRequestLogMiddleware(root, { level: 'info', requests: true }));
    app.get('/healthz', (_req, res) => void res.send('ok'));
    app.get('/v2/team/app/tags/list', (req, res) => {
      (req as RequestLogRequest).principal = { kind: 'basic', identity: { userId: 'u1', name: 'bob', role: 'user', groups: [] } };
      setImmediate(() => {
        req.log.warn({ context: 'Test' }, 'inside the request'); // the per-request child: carries the id
        res.json({ name: 'team/app', tags: ['v1'] });
      });
    });
    app.get('/boom', (_req, res) => void res.status(500).end());
    app.get('/careless', (req, res) => {
      req.log.warn({ headers: req.headers, form: { username: 'bob', password: 'hunter2-pw' } }, 'careless');
      res.end();
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise((resolve) => server.close(() => resolve()));
  });
  afterAll(async () => {
    agent.destroy();
    await close();
  });
  beforeEach(() => {
    lines.length = 0;
  });

  it('writes one line per request with the id it echoes, and lines logged through req.log carry the same id', async () => {
    const res = await get('/v2/team/app/tags/list?n=10', { 'user-agent': 'spec' });
    const id = res.headers['x-request-id'];
    expect(id).toMatch(UUID);
    const [inside, line] = records();
    expect(inside).toMatchObject({ level: 'warn', requestId: id, context: 'Test', msg: 'inside the request' });
    expect(line).toMatchObject({ level: 'info', requestId: id, method: 'GET', path: '/v2/team/app/tags/list', query: 'n=10', status: 200, user: 'bob', repository: 'team/app', action: 'pull', userAgent: 'spec', client: '127.0.0.1' });
    expect(line!['responseBytes']).toBeGreaterThan(res.body.length);
    expect(line!['durationMs']).toEqual(expect.any(Number));
    expect(lines).toHaveLength(2);
  });

  it('honours a sane incoming X-Request-Id and replaces an oversized one', async () => {
    expect((await get('/v2/team/app/tags/list', { 'x-request-id': 'from-the-proxy-1' })).headers['x-request-id']).toBe('from-the-proxy-1');
    const replaced = (await get('/v2/team/app/tags/list', { 'x-request-id': 'y'.repeat(200) })).headers['x-request-id'];
    expect(replaced).toMatch(UUID);
    expect(records().filter((r) => r['status']).map((r) => r['requestId'])).toEqual(['from-the-proxy-1', replaced]);
  });

  it('does not log probes at info, and logs a 5xx at error', async () => {
    await get('/healthz');
    await get('/boom');
    expect(records()).toEqual([expect.objectContaining({ level: 'error', path: '/boom', status: 500 })]);
  });

  it("keeps redaction on the request's own logger (req.log)", async () => {
    await get('/careless', { authorization: 'Basic Ym9iOmh1bnRlcjItcHc=', cookie: 'session=s3cr3t' });
    const text = lines.join('');
    expect(records()[0]).toMatchObject({ msg: 'careless', headers: { authorization: '[Redacted]', cookie: '[Redacted]' }, form: { username: 'bob', password: '[Redacted]' } });
    for (const secret of ['Ym9iOmh1bnRlcjItcHc=', 's3cr3t', 'hunter2-pw']) expect(text).not.toContain(secret);
  });

  it('counts each request of a kept-alive connection on its own', async () => {
    await get('/v2/team/app/tags/list');
    await get('/v2/team/app/tags/list');
    const [first, second] = records().filter((r) => r['status']);
    expect(second!['requestBytes']).toBeLessThanOrEqual(first!['requestBytes'] as number);
    expect(second!['responseBytes']).toBe(first!['responseBytes']);
  });
});
