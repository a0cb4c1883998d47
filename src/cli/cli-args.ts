/**
 * The admin CLI's command line: `registry <command> [options]`, parsed once into a typed
 * command (node:util parseArgs for the options, the command words by hand). Pure: no I/O,
 * so every form and every mistake is unit-tested.
 */
import { parseArgs } from 'node:util';
import { ACCOUNT_NAME } from '../access/user.service';

/** Exit codes (sysexits.h where one fits), the same for every command. */
export const EXIT = {
  OK: 0,
  /** The command failed (a user that exists, a backup target that is not empty…). */
  FAILED: 1,
  /** EX_USAGE: the command line is wrong. */
  USAGE: 64,
  /** EX_SOFTWARE: a bug, reported with its stack. */
  SOFTWARE: 70,
  /** EX_TEMPFAIL: try again later (a garbage collection pass is running). */
  TEMPFAIL: 75,
  /** EX_CONFIG: the configuration is invalid (what the server exits with too). */
  CONFIG: 78,
} as const;

export type CliCommand =
  | { kind: 'help' }
  | { kind: 'user-add'; name: string; admin: boolean; passwordStdin: boolean }
  | { kind: 'user-passwd'; name: string; passwordStdin: boolean }
  | { kind: 'gc'; dryRun: boolean }
  | { kind: 'config-check' }
  | { kind: 'backup'; dir: string };

/** A mistake on the command line: printed with the usage, exit 64. */
export class UsageError extends Error {}

export const USAGE = `Usage: registry <command> [options]

Administers the registry whose configuration is in the environment (or in ./.env), exactly
as the server reads it: the same data directory and database.

Commands:
  user add <name> [--admin] [--password-stdin]
                       create a user (role "user", or "admin" with --admin); without
                       --password-stdin a random password is generated and printed once
  user passwd <name> [--password-stdin]
                       set a user's password (random and printed once without
                       --password-stdin); its docker logins (refresh tokens) end
  gc [--dry-run]       run one garbage collection pass now and print its report as JSON;
                       --dry-run only counts what a pass would delete
  config check         validate the configuration as the server does and print it as JSON,
                       secrets masked
  backup <dir>         copy the database (SQLite online backup) and the blobs it references
                       into <dir> (new or empty), while the registry keeps running

Options:
  -h, --help           show this text

Results go to standard output, notes and errors to standard error. Exit codes: 0 done,
1 failed, 64 bad command line, 75 try again later (a GC pass is running), 78 invalid
configuration.
`;

const NAME_RULE = 'user names are 1-64 characters: lower-case letters, digits, ".", "_" or "-", starting with a letter or digit';

/** The options of one command, and how many positionals it takes (named, for messages). */
function parseCommandArgs<O extends Record<string, { type: 'boolean' }>>(
  command: string,
  args: string[],
  options: O,
  positionals: string[],
): { values: { [K in keyof O]: boolean }; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    // parseArgs' messages name the option ("Unknown option '--force'"); keep the first sentence.
    throw new UsageError(`${command}: ${(error as Error).message.split('. ')[0]!.replace(/\.$/, '')}`);
  }
  const given = parsed.positionals;
  if (given.length < positionals.length) throw new UsageError(`${command}: missing ${positionals.slice(given.length).map((p) => `<${p}>`).join(' ')}`);
  if (given.length > positionals.length) throw new UsageError(`${command}: unexpected argument "${given[positionals.length]}"`);
  const values = Object.fromEntries(Object.keys(options).map((k) => [k, (parsed.values as Record<string, unknown>)[k] === true])) as { [K in keyof O]: boolean };
  return { values, positionals: given };
}

function userName(command: string, name: string): string {
  if (!ACCOUNT_NAME.test(name)) throw new UsageError(`${command}: invalid user name "${name}": ${NAME_RULE}`);
  return name;
}

/** `argv` without node and the script (process.argv.slice(2)) → the command; throws UsageError. */
export function parseCliArgs(argv: readonly string[]): CliCommand {
  const args = [...argv];
  if (args.length === 0) throw new UsageError('no command given');
  // --help anywhere wins, whatever else is on the line.
  if (args.some((a) => a === '-h' || a === '--help') || args[0] === 'help') return { kind: 'help' };
  const [word, sub] = args;
  switch (word) {
    case 'user': {
      if (sub === 'add') {
        const { values, positionals } = parseCommandArgs('user add', args.slice(2), { admin: { type: 'boolean' }, 'password-stdin': { type: 'boolean' } }, ['name']);
        return { kind: 'user-add', name: userName('user add', positionals[0]!), admin: values.admin, passwordStdin: values['password-stdin'] };
      }
      if (sub === 'passwd') {
        const { values, positionals } = parseCommandArgs('user passwd', args.slice(2), { 'password-stdin': { type: 'boolean' } }, ['name']);
        return { kind: 'user-passwd', name: userName('user passwd', positionals[0]!), passwordStdin: values['password-stdin'] };
      }
      throw new UsageError(sub === undefined ? 'user: missing subcommand (add or passwd)' : `user: unknown subcommand "${sub}" (add or passwd)`);
    }
    case 'gc': {
      const { values } = parseCommandArgs('gc', args.slice(1), { 'dry-run': { type: 'boolean' } }, []);
      return { kind: 'gc', dryRun: values['dry-run'] };
    }
    case 'config': {
      if (sub !== 'check') throw new UsageError(sub === undefined ? 'config: missing subcommand (check)' : `config: unknown subcommand "${sub}" (check)`);
      parseCommandArgs('config check', args.slice(2), {}, []);
      return { kind: 'config-check' };
    }
    case 'backup': {
      const { positionals } = parseCommandArgs('backup', args.slice(1), {}, ['dir']);
      if (positionals[0]!.trim() === '') throw new UsageError('backup: <dir> is empty');
      return { kind: 'backup', dir: positionals[0]! };
    }
    default:
      throw new UsageError(`unknown command "${word}"`);
  }
}
