import type { Kysely } from 'kysely';
import type { AuditService } from '../access/audit.service';
import { hashPassword, verifyPassword } from '../access/password-hasher';
import { loadRegistryConfig } from '../config/load-registry-config';
import { openDatabase } from '../metadata/database';
import type { Database } from '../metadata/schema';
import { UnitOfWork } from '../metadata/unit-of-work';
import type { MetricsService } from '../metrics/metrics.service';
import { CredentialVerifier, parseBasic } from './credential.verifier';

// The real scrypt, counted.
jest.mock('../access/password-hasher', () => {
  const actual = jest.requireActual<typeof import('../access/password-hasher')>('../access/password-hasher');
  return { ...actual, verifyPassword: jest.fn(actual.verifyPassword) };
});

// A cluster worker's event channel, recorded: what this worker tells the others.
const published: Array<{ topic: string; payload: unknown }> = [];
jest.mock('../cluster/cluster-events', () => ({
  clusterEvents: () => ({
    publish: (topic: string, payload: unknown) => published.push({ topic, payload }),
    subscribe: () => () => undefined,
  }),
}));

const basic = (credentials: string): string => `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;

describe(parseBasic.name, () => {
  it('parses user name and password', () => {
    expect(parseBasic(basic('alice:s3cret'))).toEqual({ user: 'alice', password: 's3cret' });
  });

  it('splits at the first colon, so the password may hold colons', () => {
    expect(parseBasic(basic('alice:a:b::c:'))).toEqual({ user: 'alice', password: 'a:b::c:' });
  });

  it('accepts an empty password', () => {
    expect(parseBasic(basic('alice:'))).toEqual({ user: 'alice', password: '' });
  });

  it('decodes UTF-8 user names and passwords', () => {
    expect(parseBasic(basic('jörg:pässwörd€'))).toEqual({ user: 'jörg', password: 'pässwörd€' });
  });

  it('takes the scheme in any case and tolerates extra spaces around the credentials', () => {
    const encoded = Buffer.from('alice:pw').toString('base64');
    expect(parseBasic(`basic ${encoded}`)).toEqual({ user: 'alice', password: 'pw' });
    expect(parseBasic(`BASIC   ${encoded}  `)).toEqual({ user: 'alice', password: 'pw' });
  });

  it('keeps an access token used as the password intact', () => {
    expect(parseBasic(basic('ci:rat_AbC-_xyz'))).toEqual({ user: 'ci', password: 'rat_AbC-_xyz' });
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['a Bearer header', 'Bearer abc.def.ghi'],
    ['a Digest header', 'Digest username="alice"'],
    ['the scheme alone', 'Basic'],
    ['the scheme and a space', 'Basic '],
    ['the scheme without a space', `Basic${Buffer.from('alice:pw').toString('base64')}`],
    ['characters outside base64', 'Basic YWxp!2U6cHc='],
    ['two credentials', `Basic ${Buffer.from('alice:pw').toString('base64')} ${Buffer.from('bob:pw').toString('base64')}`],
    ['credentials without a colon', basic('alice')],
    ['an empty user name', basic(':s3cret')],
    ['nothing but a colon', basic(':')],
  ])('answers undefined for %s', (_, header) => {
    expect(parseBasic(header)).toBeUndefined();
  });
});

describe(CredentialVerifier.name, () => {
  let db: Kysely<Database>;
  let verifier: CredentialVerifier;

  beforeAll(async () => {
    db = await openDatabase({ dialect: 'sqlite', filename: ':memory:' });
    const uow = new UnitOfWork(db);
    const config = loadRegistryConfig({ REGISTRY_AUTH: 'token', REGISTRY_DATA_DIR: '/nonexistent' });
    const audit = { record: jest.fn() } as unknown as AuditService;
    const metrics = { authFailure: jest.fn() } as unknown as MetricsService;
    verifier = new CredentialVerifier(config, uow, audit, metrics);
    await uow.stores.users.create({ id: 'u1', name: 'alice', passwordHash: await hashPassword('right-password'), role: 'user', disabled: false, credentialsVersion: 1, createdAt: 1, updatedAt: 1 });
  });
  afterAll(async () => {
    verifier.onModuleDestroy();
    await db.destroy();
  });
  beforeEach(() => {
    jest.mocked(verifyPassword).mockClear();
  });

  it('hashes once for the same credentials checked concurrently, then answers from its cache', async () => {
    const burst = Array.from({ length: 8 }, () => verifier.verifyBasic({ user: 'alice', password: 'right-password' }, '10.0.0.1', 'token'));
    expect((await Promise.all(burst)).map((identity) => identity.name)).toEqual(Array(8).fill('alice'));
    expect(verifyPassword).toHaveBeenCalledTimes(1);
    await verifier.verifyBasic({ user: 'alice', password: 'right-password' }, '10.0.0.2', 'token');
    expect(verifyPassword).toHaveBeenCalledTimes(1);
  });

  it('tells the other workers of every failure, but of a success only when it clears failures', async () => {
    published.length = 0;
    await verifier.verifyBasic({ user: 'alice', password: 'right-password' }, '10.0.1.1', 'token');
    expect(published).toEqual([]); // nothing to clear here, so nothing anywhere: every failure is told to every worker
    await expect(verifier.verifyBasic({ user: 'alice', password: 'wrong-password' }, '10.0.1.1', 'token')).rejects.toMatchObject({ status: 401 });
    await verifier.verifyBasic({ user: 'alice', password: 'right-password' }, '10.0.1.1', 'token');
    expect(published).toEqual([
      { topic: expect.any(String), payload: { op: 'fail', user: 'alice', clientIp: '10.0.1.1' } },
      { topic: expect.any(String), payload: { op: 'succeed', user: 'alice', clientIp: '10.0.1.1' } },
    ]);
    await verifier.verifyBasic({ user: 'alice', password: 'right-password' }, '10.0.1.1', 'token');
    expect(published).toHaveLength(2); // cleared already
  });

  it('hashes different passwords checked concurrently separately (a wrong one never rides on a right one)', async () => {
    const wrong = verifier.verifyBasic({ user: 'alice', password: 'wrong-password' }, '10.0.0.3', 'token');
    const right = verifier.verifyBasic({ user: 'alice', password: 'right-password' }, '10.0.0.4', 'token');
    await expect(wrong).rejects.toMatchObject({ status: 401 });
    await expect(right).resolves.toMatchObject({ name: 'alice' }); // cached from the test above: no hash
    expect(verifyPassword).toHaveBeenCalledTimes(1);
    const other = verifier.verifyBasic({ user: 'alice', password: 'also-wrong' }, '10.0.0.5', 'token');
    const again = verifier.verifyBasic({ user: 'alice', password: 'wrong-password' }, '10.0.0.5', 'token');
    await expect(Promise.allSettled([other, again])).resolves.toEqual([expect.objectContaining({ status: 'rejected' }), expect.objectContaining({ status: 'rejected' })]);
    expect(verifyPassword).toHaveBeenCalledTimes(3);
  });
});
