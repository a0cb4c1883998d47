import { parseCliArgs, UsageError, USAGE, type CliCommand } from './cli-args';

/** The UsageError parseCliArgs throws for `argv` (fails the test when it does not throw one). */
function usageErrorFor(argv: string[]): UsageError {
  try {
    parseCliArgs(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error(`expected ${JSON.stringify(argv)} to be refused`);
}

describe(parseCliArgs.name, () => {
  it.each<[string[], CliCommand]>([
    [['user', 'add', 'alice'], { kind: 'user-add', name: 'alice', admin: false, passwordStdin: false }],
    [['user', 'add', 'alice', '--admin'], { kind: 'user-add', name: 'alice', admin: true, passwordStdin: false }],
    [['user', 'add', '--admin', '--password-stdin', 'ci.robot-1'], { kind: 'user-add', name: 'ci.robot-1', admin: true, passwordStdin: true }],
    [['user', 'passwd', 'alice'], { kind: 'user-passwd', name: 'alice', passwordStdin: false }],
    [['user', 'passwd', 'alice', '--password-stdin'], { kind: 'user-passwd', name: 'alice', passwordStdin: true }],
    [['gc'], { kind: 'gc', dryRun: false }],
    [['gc', '--dry-run'], { kind: 'gc', dryRun: true }],
    [['config', 'check'], { kind: 'config-check' }],
    [['backup', '/var/backups/registry'], { kind: 'backup', dir: '/var/backups/registry' }],
    [['backup', '--', '-odd-name'], { kind: 'backup', dir: '-odd-name' }],
  ])('parses %j', (argv, expected) => {
    expect(parseCliArgs(argv)).toEqual(expected);
  });

  it.each([[['--help']], [['-h']], [['help']], [['user', 'add', '--help']], [['gc', '-h', '--bogus']]])('answers help for %j, whatever else is on the line', (argv) => {
    expect(parseCliArgs(argv)).toEqual({ kind: 'help' });
  });

  it.each<[string[], string]>([
    [[], 'no command given'],
    [['push'], 'unknown command "push"'],
    [['user'], 'user: missing subcommand (add or passwd)'],
    [['user', 'del', 'alice'], 'user: unknown subcommand "del" (add or passwd)'],
    [['user', 'add'], 'user add: missing <name>'],
    [['user', 'add', 'alice', 'bob'], 'user add: unexpected argument "bob"'],
    [['user', 'add', 'alice', '--force'], "user add: Unknown option '--force'"],
    [['user', 'add', 'alice', '--admin=yes'], "user add: Option '--admin' does not take an argument"],
    [['user', 'passwd', 'alice', '--admin'], "user passwd: Unknown option '--admin'"],
    [['gc', 'now'], 'gc: unexpected argument "now"'],
    [['gc', '--dryrun'], "gc: Unknown option '--dryrun'"],
    [['config'], 'config: missing subcommand (check)'],
    [['config', 'show'], 'config: unknown subcommand "show" (check)'],
    [['config', 'check', '--verbose'], "config check: Unknown option '--verbose'"],
    [['backup'], 'backup: missing <dir>'],
    [['backup', 'a', 'b'], 'backup: unexpected argument "b"'],
    [['backup', ' '], 'backup: <dir> is empty'],
  ])('refuses %j with "%s"', (argv, message) => {
    expect(usageErrorFor(argv).message).toBe(message);
  });

  it.each([['Alice'], ['anonymous!'], ['-x'], ['a'.repeat(65)], ['.hidden'], ['a b']])('refuses the user name %j, saying what a name may hold', (name) => {
    const argv = name.startsWith('-') ? ['user', 'add', '--', name] : ['user', 'add', name];
    expect(usageErrorFor(argv).message).toMatch(/^user add: invalid user name ".*": user names are 1-64 characters: lower-case letters/);
  });

  it('documents every command in the usage text', () => {
    for (const command of ['user add <name> [--admin] [--password-stdin]', 'user passwd <name> [--password-stdin]', 'gc [--dry-run]', 'config check', 'backup <dir>']) {
      expect(USAGE).toContain(command);
    }
  });
});
