import { createRootLogger } from './root-logger';
import { censorSecretsInLine, LOG_CENSOR, REDACT_PATHS } from './redaction';

/** A root logger writing into an array, as the app's is configured (same redact paths and hook). */
function capturingLogger(): { logger: ReturnType<typeof createRootLogger>; lines: string[] } {
  const lines: string[] = [];
  return { logger: createRootLogger('trace', { write: (line: string) => void lines.push(line) }), lines };
}

const SECRETS = ['hunter2-password', 'Basic YWRtaW46aHVudGVyMg==', 'Bearer eyJhbGciOi.x.y', 'rrt_refresh-token-value', 'rat_access-token-value', 'session=abc123', 'client-secret-value'];

describe('log redaction', () => {
  it('redacts credential headers wherever a request, response or bare headers object is logged, in either casing', () => {
    const { logger, lines } = capturingLogger();
    logger.info({
      req: { method: 'GET', headers: { authorization: SECRETS[1], cookie: SECRETS[5], 'proxy-authorization': SECRETS[2], 'user-agent': 'docker/27' } },
      res: { statusCode: 200, headers: { 'set-cookie': [SECRETS[5], 'other=1'] } },
      headers: { Authorization: SECRETS[2], 'Set-Cookie': SECRETS[5] },
    });
    const line = JSON.parse(lines[0]!) as { req: { headers: Record<string, unknown> }; res: { headers: Record<string, unknown> }; headers: Record<string, unknown> };
    expect(line.req.headers).toEqual({ authorization: LOG_CENSOR, cookie: LOG_CENSOR, 'proxy-authorization': LOG_CENSOR, 'user-agent': 'docker/27' });
    expect(line.res.headers).toEqual({ 'set-cookie': LOG_CENSOR });
    expect(line.headers).toEqual({ Authorization: LOG_CENSOR, 'Set-Cookie': LOG_CENSOR });
  });

  it('redacts secret fields at any depth, in arrays, child bindings and errors, and keeps everything else', () => {
    const { logger, lines } = capturingLogger();
    const error = Object.assign(new Error('upstream refused'), { config: { headers: { Authorization: SECRETS[2] } }, token: SECRETS[3] });
    logger.child({ token: SECRETS[4] }).warn(
      {
        password: SECRETS[0],
        body: { grant_type: 'password', username: 'alice', password: SECRETS[0], refresh_token: SECRETS[3], client_secret: SECRETS[6] },
        deep: { a: { b: { c: { d: { access_token: SECRETS[4], Secret: SECRETS[6] } } } } },
        list: [{ token: SECRETS[4] }, { password: 12345678 }],
        keep: { offline_token: 'true', tokens: 3, tokenCount: 2, passwordChanged: true, scope: 'repository:a/b:pull' },
        err: error,
      },
      'careless',
    );
    const text = lines.join('');
    for (const secret of [...SECRETS, '12345678']) expect(text).not.toContain(secret);
    const line = JSON.parse(text) as Record<string, unknown>;
    expect(line).toMatchObject({
      token: LOG_CENSOR,
      password: LOG_CENSOR,
      body: { grant_type: 'password', username: 'alice', password: LOG_CENSOR, refresh_token: LOG_CENSOR, client_secret: LOG_CENSOR },
      deep: { a: { b: { c: { d: { access_token: LOG_CENSOR, Secret: LOG_CENSOR } } } } },
      list: [{ token: LOG_CENSOR }, { password: LOG_CENSOR }],
      keep: { offline_token: 'true', tokens: 3, tokenCount: 2, passwordChanged: true, scope: 'repository:a/b:pull' },
      err: { message: 'upstream refused', token: LOG_CENSOR, config: { headers: { Authorization: LOG_CENSOR } } },
      msg: 'careless',
    });
  });

  it('lists fixed paths only: pino wildcard paths cost microseconds per line', () => {
    expect(REDACT_PATHS).toEqual(expect.arrayContaining(['req.headers["authorization"]', 'res.headers["set-cookie"]', 'headers["Authorization"]', 'password', 'body.refresh_token']));
    expect(REDACT_PATHS.some((path) => path.includes('*'))).toBe(false);
  });
});

describe('censorSecretsInLine', () => {
  it('censors string, string-array and scalar values of secret keys, escaped quotes included, and keeps the line valid JSON', () => {
    const line = JSON.stringify({ a: { password: 'p"w\\"x', n: 1 }, 'set-cookie': ['a=1', 'b="2"'], token: 42, secret: null, ok: 'password' });
    const censored = censorSecretsInLine(line);
    expect(JSON.parse(censored)).toEqual({ a: { password: LOG_CENSOR, n: 1 }, 'set-cookie': LOG_CENSOR, token: LOG_CENSOR, secret: LOG_CENSOR, ok: 'password' });
  });

  it('leaves object values to their own keys, and text that merely mentions a secret name', () => {
    const line = JSON.stringify({ token: { id: 'tok-1', secret: 's3cr3t' }, msg: 'the "password": field is required' });
    expect(JSON.parse(censorSecretsInLine(line))).toEqual({ token: { id: 'tok-1', secret: LOG_CENSOR }, msg: 'the "password": field is required' });
  });

  it('returns a line without secrets unchanged', () => {
    const line = '{"level":"info","requestId":"r-1","method":"GET","path":"/v2/a/b/tags/list","status":200}\n';
    expect(censorSecretsInLine(line)).toBe(line);
  });
});
