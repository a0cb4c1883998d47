import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackupReport } from '../../src/cli/backup.service';
import type { GcReport } from '../../src/gc/gc.service';
import { requireBuiltCli, runRegistryCli, type CliResult } from '../utils/cli-process';
import { filesUnder, OciClient, type PushedImage } from '../utils/oci-client';
import { RunningRegistry, startRegistry, TEST_SERVICE } from '../utils/start-registry';
import { makeTempDir, removeDir } from '../utils/temp-dir';
import { requestToken } from '../utils/tokens';

jest.setTimeout(60_000);

// Fails the suite (never skips it) when the CLI has not been built.
requireBuiltCli();

const POLICIES = path.resolve(__dirname, '../../config/policies.json');
const ADMIN_PASSWORD = 'cli-admin-password';
const NO_STACK = /\n\s+at /;

/**
 * The admin CLI, built (`node dist/cli.js`), against temp data dirs that registries started in
 * this process then serve: users it creates log in, passwords it sets replace the old ones,
 * GC reports, configuration checks, and backups a registry serves as it was.
 */
describe('registry CLI (e2e)', () => {
  const dirs: string[] = [];
  const registries: RunningRegistry[] = [];
  const tempDir = (prefix: string): string => {
    const dir = makeTempDir(prefix);
    dirs.push(dir);
    return dir;
  };
  const start = async (dataDir: string, env: Record<string, string>): Promise<RunningRegistry> => {
    const registry = await startRegistry({ dataDir, env });
    registries.push(registry);
    return registry;
  };
  afterAll(async () => {
    for (const registry of registries) await registry.close();
    for (const dir of dirs) removeDir(dir);
  });

  /** The environment a token-auth registry on `dataDir` runs with (and so the CLI next to it). */
  const tokenEnv = (dataDir: string): Record<string, string> => ({
    REGISTRY_DATA_DIR: dataDir,
    REGISTRY_AUTH: 'token',
    REGISTRY_ADMIN_PASSWORD: ADMIN_PASSWORD,
    REGISTRY_AUTH_SERVICE: TEST_SERVICE,
    REGISTRY_AUTH_POLICIES_FILE: POLICIES,
  });

  const cli = (args: string[], env: Record<string, string>, stdin?: string): Promise<CliResult> => runRegistryCli(args, { env, stdin });

  describe('config check', () => {
    it('prints the effective configuration as JSON with secrets masked, exit 0', async () => {
      const dataDir = tempDir('cli-config-');
      const result = await cli(['config', 'check'], { ...tokenEnv(dataDir), REGISTRY_METRICS_TOKEN: 'metrics-token-0123456789' });

      expect(result).toMatchObject({ code: 0, stderr: 'registry: the configuration is valid\n' });
      const config = JSON.parse(result.stdout) as { dataDir: string; database: { filename: string }; auth: Record<string, unknown>; metrics: Record<string, unknown> };
      expect(config.dataDir).toBe(dataDir);
      expect(config.database.filename).toBe(path.join(dataDir, 'registry.db'));
      expect(config.auth).toMatchObject({ mode: 'token', service: TEST_SERVICE, adminPassword: '********' });
      expect(config.metrics['token']).toBe('********');
      expect(result.stdout).not.toContain(ADMIN_PASSWORD);
      expect(result.stdout).not.toContain('metrics-token-0123456789');
      expect(fs.readdirSync(dataDir)).toEqual([]); // a check writes nothing
    });

    it('names each invalid variable and exits 78 (EX_CONFIG), without a stack', async () => {
      const result = await cli(['config', 'check'], { REGISTRY_DATA_DIR: tempDir('cli-config-'), REGISTRY_GC_GRACE: '-5', REGISTRY_TRUST_PROXY: 'sometimes' });

      expect(result.code).toBe(78);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^Invalid registry configuration:\n/);
      expect(result.stderr).toContain('REGISTRY_GC_GRACE="-5"');
      expect(result.stderr).toContain('REGISTRY_TRUST_PROXY="sometimes"');
      expect(result.stderr).not.toMatch(NO_STACK);
    });

    it('reads ./.env like the server, the environment winning over it', async () => {
      const cwd = tempDir('cli-dotenv-');
      fs.writeFileSync(path.join(cwd, '.env'), 'PORT=not-a-port\nREGISTRY_AUTH=none\n');
      const failing = await runRegistryCli(['config', 'check'], { cwd, env: { REGISTRY_DATA_DIR: tempDir('cli-config-') } });
      expect(failing.code).toBe(78);
      expect(failing.stderr).toContain('PORT="not-a-port"');

      const overridden = await runRegistryCli(['config', 'check'], { cwd, env: { REGISTRY_DATA_DIR: tempDir('cli-config-'), PORT: '5000' } });
      expect(overridden.code).toBe(0);
      expect(JSON.parse(overridden.stdout)).toMatchObject({ http: { port: 5000 }, auth: { mode: 'none' } });
    });
  });

  describe('users', () => {
    let dataDir: string;
    let registry: RunningRegistry;
    let alicePassword: string;

    beforeAll(async () => {
      dataDir = tempDir('cli-users-');
    });

    it('adds a user with a generated password, printed once on stdout, that logs in and pushes', async () => {
      const added = await cli(['user', 'add', 'alice'], tokenEnv(dataDir));
      expect(added.code).toBe(0);
      expect(added.stdout).toMatch(/^[A-Za-z0-9_-]{24}\n$/);
      expect(added.stderr).toBe('created user "alice" (role user); its password, shown only this once:\n');
      alicePassword = added.stdout.trim();

      registry = await start(dataDir, tokenEnv(dataDir));
      const token = await requestToken(registry, { user: 'alice', password: alicePassword }, ['repository:cli/demo:pull,push']);
      expect(token.status).toBe(200);
      const alice = new OciClient(registry.url, { user: 'alice', password: alicePassword });
      const image = await alice.pushImage('cli/demo', 'v1');
      await alice.pullVerified('cli/demo', 'v1', image.bytes);
    });

    it('adds an admin with the password from stdin (one trailing newline dropped)', async () => {
      const added = await cli(['user', 'add', 'ops', '--admin', '--password-stdin'], tokenEnv(dataDir), 'ops-password-123\n');
      expect(added).toEqual({ code: 0, stdout: '', stderr: 'created user "ops" (role admin)\n' });

      // Written while the registry runs on the same database: the next request sees it.
      const res = await fetch(`${registry.url}/api/v1/users/ops`, { headers: { authorization: `Basic ${Buffer.from('ops:ops-password-123').toString('base64')}` } });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ name: 'ops', role: 'admin', disabled: false });
    });

    it('refuses a user that exists, exit 1, one line', async () => {
      const again = await cli(['user', 'add', 'alice'], tokenEnv(dataDir));
      expect(again).toEqual({ code: 1, stdout: '', stderr: 'registry: user "alice" already exists\n' });
    });

    it('changes a password: the new one logs in, the old one is refused', async () => {
      const changed = await cli(['user', 'passwd', 'alice', '--password-stdin'], tokenEnv(dataDir), 'alice-new-password');
      expect(changed).toEqual({ code: 0, stdout: '', stderr: 'changed the password of "alice" (its docker logins end)\n' });

      expect((await requestToken(registry, { user: 'alice', password: alicePassword }, ['repository:cli/demo:pull'])).status).toBe(401);
      expect((await requestToken(registry, { user: 'alice', password: 'alice-new-password' }, ['repository:cli/demo:pull'])).status).toBe(200);
    });

    it('generates the new password when none is given on stdin', async () => {
      const changed = await cli(['user', 'passwd', 'alice'], tokenEnv(dataDir));
      expect(changed.code).toBe(0);
      expect(changed.stdout).toMatch(/^[A-Za-z0-9_-]{24}\n$/);
      expect((await requestToken(registry, { user: 'alice', password: changed.stdout.trim() }, [])).status).toBe(200);
    });

    it('refuses an unknown user, and a password the admin API would refuse, exit 1', async () => {
      expect(await cli(['user', 'passwd', 'nobody', '--password-stdin'], tokenEnv(dataDir), 'long-enough-password')).toEqual({
        code: 1,
        stdout: '',
        stderr: 'registry: no user named "nobody"\n',
      });
      expect(await cli(['user', 'passwd', 'alice', '--password-stdin'], tokenEnv(dataDir), 'short')).toEqual({
        code: 1,
        stdout: '',
        stderr: 'registry: password must be longer than or equal to 8 characters\n',
      });
    });

    it('records who did it in the audit log', async () => {
      const res = await fetch(`${registry.url}/api/v1/audit?type=user.create`, { headers: { authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}` } });
      expect(res.status).toBe(200);
      const { events } = (await res.json()) as { events: { actor: string; detail: { user: string } }[] };
      const actors = events.filter((e) => e.detail.user === 'alice' || e.detail.user === 'ops').map((e) => e.actor);
      expect(actors).toHaveLength(2);
      for (const actor of actors) expect(actor).toMatch(/^cli(:.+)?$/);
    });
  });

  describe('gc', () => {
    it('previews a pass beside a running server, refuses to delete beside it (exit 75), and collects once it is stopped', async () => {
      const dataDir = tempDir('cli-gc-');
      const env = { REGISTRY_DATA_DIR: dataDir, REGISTRY_AUTH: 'none', REGISTRY_GC_GRACE: '0', REGISTRY_GC_INTERVAL: '0' };
      const registry = await start(dataDir, env);
      const client = new OciClient(registry.url);
      const image = await client.pushImage('cli/gc', 'v1');
      expect(await client.deleteManifest('cli/gc', image.digest)).toBe(202);

      const dry = await cli(['gc', '--dry-run'], env);
      expect(dry.code).toBe(0);
      const report = JSON.parse(dry.stdout) as GcReport;
      expect(report).toMatchObject({ dryRun: true, deletedLayers: 2, reclaimedBytes: image.config.size + image.layers[0]!.size });
      expect(typeof report.id).toBe('string');
      expect(typeof report.durationMs).toBe('number');
      expect(filesUnder(path.join(dataDir, 'storage', 'blobs'))).toHaveLength(2);

      // A deleting pass beside a live server is refused (exit 75, try later): GC's lock against a
      // concurrent upload of the same blob lives inside the server's process.
      const beside = await cli(['gc'], env);
      expect(beside.code).toBe(75);
      expect(beside.stdout).toBe('');
      expect(beside.stderr).toContain('a registry server is running on this data');
      expect(beside.stderr).toContain('POST /_gc');
      expect(filesUnder(path.join(dataDir, 'storage', 'blobs'))).toHaveLength(2);

      await registry.close();
      const real = await cli(['gc'], env);
      expect(real.code).toBe(0);
      expect(JSON.parse(real.stdout)).toMatchObject({ dryRun: false, deletedLayers: 2 });
      expect(filesUnder(path.join(dataDir, 'storage', 'blobs'))).toEqual([]);
      // The server's history lists the pass the CLI ran.
      const restarted = new OciClient((await start(dataDir, env)).url);
      const runs = (await (await restarted.fetch('/api/v1/gc/runs')).json()) as { runs: { trigger: string; dryRun: boolean }[] };
      expect(runs.runs.filter((r) => r.trigger === 'cli').map((r) => r.dryRun).sort()).toEqual([false, true]);
    });

    it('refuses a pass in read-only mode politely (exit 1) and still previews one', async () => {
      const dataDir = tempDir('cli-gc-');
      const env = { REGISTRY_DATA_DIR: dataDir, REGISTRY_AUTH: 'none', REGISTRY_READ_ONLY: 'true' };
      const refused = await cli(['gc'], env);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toContain('read-only mode (REGISTRY_READ_ONLY=true)');
      expect(refused.stderr).not.toMatch(NO_STACK);

      const dry = await cli(['gc', '--dry-run'], env);
      expect(dry.code).toBe(0);
      expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true });
    });
  });

  describe('backup', () => {
    const noAuth = (dataDir: string): Record<string, string> => ({ REGISTRY_DATA_DIR: dataDir, REGISTRY_AUTH: 'none', REGISTRY_GC_INTERVAL: '0' });

    /** Starts a registry on `dir` and pulls every image byte for byte. */
    const expectServes = async (dir: string, images: PushedImage[]): Promise<OciClient> => {
      const restored = await start(dir, noAuth(dir));
      const client = new OciClient(restored.url);
      for (const image of images) await client.pullVerified(image.repo, image.tag, image.bytes);
      return client;
    };

    it('copies a stopped registry: database, blobs by their digest paths, signing key; no upload staging', async () => {
      const dataDir = tempDir('cli-backup-src-');
      const first = await start(dataDir, tokenEnv(dataDir)); // token auth once, so a signing key exists
      await first.close();
      const registry = await start(dataDir, noAuth(dataDir));
      const client = new OciClient(registry.url);
      const images = [await client.pushImage('cli/backup', 'v1'), await client.pushImage('cli/backup/nested', 'v2')];
      // An upload session with bytes staged on disk, which the backup leaves out.
      const upload = await client.startUpload('cli/backup');
      const chunk = await client.fetch(upload, { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-9' }, body: Buffer.alloc(10, 1) });
      expect(chunk.status).toBe(202);
      await registry.close();

      const target = path.join(tempDir('cli-backup-dst-'), 'copy');
      const result = await cli(['backup', target], noAuth(dataDir));
      expect(result.code).toBe(0);
      const report = JSON.parse(result.stdout) as BackupReport;
      const blobs = images.flatMap((i) => [i.config, ...i.layers]);
      expect(report).toMatchObject({ dir: target, database: 'registry.db', blobs: blobs.length, bytes: blobs.reduce((n, b) => n + b.size, 0), files: ['auth/token-signing-key.pem'] });
      expect(result.stderr).toMatch(/^backed up the database and 4 blobs \(\d+ bytes\) into .* in \d+ ms\n$/);

      const source = path.join(dataDir, 'storage');
      expect(filesUnder(path.join(source, 'uploads'))).toHaveLength(1);
      expect(filesUnder(target).sort()).toEqual(
        ['auth/token-signing-key.pem', 'registry.db', ...filesUnder(source).filter((f) => f.startsWith('blobs/')).map((f) => `storage/${f}`)].sort(),
      );
      expect(fs.statSync(target).mode & 0o777).toBe(0o700);
      expect(fs.statSync(path.join(target, 'auth', 'token-signing-key.pem')).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(path.join(target, 'auth', 'token-signing-key.pem'))).toEqual(fs.readFileSync(path.join(dataDir, 'auth', 'token-signing-key.pem')));

      await expectServes(target, images);
    });

    it('copies a running registry as of one moment, leaving GC unlocked in both', async () => {
      const dataDir = tempDir('cli-backup-src-');
      const registry = await start(dataDir, noAuth(dataDir));
      const client = new OciClient(registry.url);
      const before = await client.pushImage('cli/online', 'before');

      const target = path.join(tempDir('cli-backup-dst-'), 'copy');
      const result = await cli(['backup', target], noAuth(dataDir));
      expect(result.code).toBe(0);
      const after = await client.pushImage('cli/online', 'after');

      // The live registry's GC runs again (the backup released its lease)…
      expect((await client.tryGc()).status).toBe(200);
      // …and the copy serves what was there at the backup, not what came after, and collects too.
      const restored = await expectServes(target, [before]);
      expect((await restored.fetch(`/v2/cli/online/manifests/${after.tag}`)).status).toBe(404);
      expect((await restored.tryGc()).status).toBe(200);
    });

    it('refuses a target that is not empty, exit 1, one line', async () => {
      const dataDir = tempDir('cli-backup-src-');
      const target = tempDir('cli-backup-dst-');
      fs.writeFileSync(path.join(target, 'keep-me'), 'x');
      const result = await cli(['backup', target], noAuth(dataDir));
      expect(result).toEqual({ code: 1, stdout: '', stderr: `registry: backup failed: ${target} is not empty: back up into a new or empty directory\n` });
      expect(fs.readdirSync(target)).toEqual(['keep-me']);
    });

    it('fails, naming the blob, when a blob the database references is missing from storage', async () => {
      const dataDir = tempDir('cli-backup-src-');
      const registry = await start(dataDir, noAuth(dataDir));
      const image = await new OciClient(registry.url).pushImage('cli/broken', 'v1');
      await registry.close();
      const layer = image.layers[0]!.digest;
      fs.rmSync(path.join(dataDir, 'storage', 'blobs', 'sha256', layer.slice(7, 9), layer.slice(7)));

      const target = path.join(tempDir('cli-backup-dst-'), 'copy');
      const result = await cli(['backup', target], noAuth(dataDir));
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`blob ${layer} is in the database but missing from storage`);
      expect(result.stderr).not.toMatch(NO_STACK);
    });
  });

  it('prints the usage for --help (exit 0) and refuses an unknown command (exit 64)', async () => {
    const help = await cli(['--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: registry <command> \[options\]/);
    const unknown = await cli(['push', 'x'], {});
    expect(unknown).toEqual({ code: 64, stdout: '', stderr: 'registry: unknown command "push"\nRun "registry --help" for the commands and their options.\n' });
  });
});
