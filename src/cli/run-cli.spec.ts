import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, USAGE } from './cli-args';
import { runCli, type CliIo } from './run-cli';

/** An in-memory terminal: what went to stdout and stderr, and a given stdin. */
function fakeIo(stdin = ''): CliIo & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out: (text: string) => void (io.stdout += text),
    err: (text: string) => void (io.stderr += text),
    readStdin: () => Promise.resolve(stdin),
  };
  return io;
}

/**
 * The paths that do not need the database (usage, configuration, input checks). The commands
 * themselves run against the built CLI in test/e2e/cli.e2e-spec.ts.
 */
describe(runCli.name, () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'run-cli-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the usage on stdout for --help, exit 0', async () => {
    const io = fakeIo();
    expect(await runCli(['--help'], {}, io)).toBe(EXIT.OK);
    expect(io.stdout).toBe(USAGE);
    expect(io.stderr).toBe('');
  });

  it('prints the whole usage on stderr when no command is given, exit 64', async () => {
    const io = fakeIo();
    expect(await runCli([], {}, io)).toBe(EXIT.USAGE);
    expect(io.stderr).toBe(`registry: no command given\n\n${USAGE}`);
    expect(io.stdout).toBe('');
  });

  it('names a command-line mistake in one line and points at --help, exit 64', async () => {
    const io = fakeIo();
    expect(await runCli(['gc', '--force'], {}, io)).toBe(EXIT.USAGE);
    expect(io.stderr).toBe(`registry: gc: Unknown option '--force'\nRun "registry --help" for the commands and their options.\n`);
  });

  it('checks the configuration: the effective config as JSON on stdout, secrets masked, exit 0', async () => {
    const io = fakeIo();
    const env = { REGISTRY_DATA_DIR: dir, REGISTRY_ADMIN_PASSWORD: 'very-secret-admin' };
    expect(await runCli(['config', 'check'], env, io)).toBe(EXIT.OK);
    const printed = JSON.parse(io.stdout) as { dataDir: string; auth: { adminPassword: string } };
    expect(printed.dataDir).toBe(dir);
    expect(printed.auth.adminPassword).toBe('********');
    expect(io.stdout).not.toContain('very-secret-admin');
    expect(io.stderr).toBe('registry: the configuration is valid\n');
  });

  it('lists every configuration problem on stderr and exits 78, as the server does', async () => {
    const io = fakeIo();
    expect(await runCli(['config', 'check'], { REGISTRY_DATA_DIR: dir, PORT: 'abc', REGISTRY_READ_ONLY: 'maybe' }, io)).toBe(EXIT.CONFIG);
    expect(io.stdout).toBe('');
    expect(io.stderr).toMatch(/^Invalid registry configuration:\n {2}PORT="abc": .*\n {2}REGISTRY_READ_ONLY="maybe": .*\n$/);
  });

  it('refuses to run any command under an invalid configuration, exit 78', async () => {
    const io = fakeIo();
    expect(await runCli(['gc'], { REGISTRY_DATA_DIR: dir, REGISTRY_AUTH: 'basic' }, io)).toBe(EXIT.CONFIG);
    expect(io.stderr).toContain('REGISTRY_AUTH="basic"');
  });

  it('refuses a GC pass in read-only mode politely, without opening the database', async () => {
    const io = fakeIo();
    expect(await runCli(['gc'], { REGISTRY_DATA_DIR: join(dir, 'data'), REGISTRY_READ_ONLY: 'true' }, io)).toBe(EXIT.FAILED);
    expect(io.stderr).toBe('registry: the registry is in read-only mode (REGISTRY_READ_ONLY=true), so garbage collection deletes nothing; "registry gc --dry-run" shows what a pass would delete\n');
    expect(io.stdout).toBe('');
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });

  it.each([
    ['', '--password-stdin: no password on standard input'],
    ['\n', '--password-stdin: no password on standard input'],
    ['short\n', 'password must be longer than or equal to 8 characters'],
  ])('refuses the password %j from stdin with the admin API\'s own rules, before opening the database', async (stdin, message) => {
    const io = fakeIo(stdin);
    expect(await runCli(['user', 'add', 'alice', '--password-stdin'], { REGISTRY_DATA_DIR: join(dir, 'data') }, io)).toBe(EXIT.FAILED);
    expect(io.stderr).toBe(`registry: ${message}\n`);
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });
});
