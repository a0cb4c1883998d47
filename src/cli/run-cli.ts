/**
 * The admin CLI: parses the command line, loads the configuration exactly as the server
 * does, and runs the command against the server's own services in a Nest application
 * context (CliModule). Results go to `out` (a generated password, JSON), messages and
 * errors to `err`; the answer is the exit code. User mistakes are one line, never a stack.
 */
import type { INestApplicationContext, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { CreateUserDto, UpdateUserDto } from '../access/admin.dto';
import { UserService } from '../access/user.service';
import { OciError } from '../common/errors/oci-error';
import { ConfigError, loadRegistryConfig } from '../config/load-registry-config';
import type { RegistryConfig } from '../config/registry-config';
import { GcAlreadyRunning, GcService } from '../gc/gc.service';
import { INSTANCE_LEASE_PREFIX } from '../health/instance-presence.service';
import { UnitOfWork } from '../metadata/unit-of-work';
import { BackupError, BackupService } from './backup.service';
import { EXIT, parseCliArgs, UsageError, USAGE, type CliCommand } from './cli-args';
import { CliModule } from './cli.module';
import { checkConfiguration, maskSecrets } from './config-check';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** All of standard input, as UTF-8. */
  readStdin(): Promise<string>;
}

/** A failure to report as one line, with its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.FAILED,
  ) {
    super(message);
  }
}

/**
 * Nest's logger for the CLI: errors only, one line each, no stacks. Nest's own report of a
 * failed start (context "ExceptionHandler") is left out: the CLI prints what was thrown.
 */
class CliLogger implements LoggerService {
  constructor(private readonly io: CliIo) {}
  log(): void {}
  warn(): void {}
  debug(): void {}
  verbose(): void {}
  fatal(message: unknown, ...params: unknown[]): void {
    this.error(message, ...params);
  }
  error(message: unknown, ...params: unknown[]): void {
    const context = params.length > 0 ? params[params.length - 1] : undefined;
    if (context === 'ExceptionHandler') return;
    const text = message instanceof Error ? message.message : String(message);
    this.io.err(`registry: ${typeof context === 'string' ? `${context}: ` : ''}${text.split('\n')[0]}\n`);
  }
}

/** Who the audit log names for changes made here. */
function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli'; // no passwd entry for this uid (containers)
  }
}

/** The password from stdin (one trailing newline dropped, as `echo` and here-strings add one), or a generated one. */
async function passwordFor(command: { passwordStdin: boolean }, io: CliIo): Promise<{ password: string; generated: boolean }> {
  if (!command.passwordStdin) return { password: randomBytes(18).toString('base64url'), generated: true };
  const password = (await io.readStdin()).replace(/\r?\n$/, '');
  if (password === '') throw new CliError('--password-stdin: no password on standard input');
  return { password, generated: false };
}

/** Validates user input with the admin API's own DTOs, so both accept exactly the same. */
function validate<T extends object>(dto: new () => T, input: Partial<T>): void {
  const problems = validateSync(plainToInstance(dto, input)).flatMap((e) => Object.values(e.constraints ?? {}));
  if (problems.length > 0) throw new CliError(problems.join('; '));
}

/**
 * A deleting pass from this process must not run beside a live server on the same data: the
 * per-digest lock between an upload's commit and GC's delete of that blob exists only inside
 * one process. Servers announce themselves with a lease (InstancePresence).
 */
async function refuseBesideRunningServer(uow: UnitOfWork): Promise<void> {
  const servers = await uow.stores.locks.liveHolders(INSTANCE_LEASE_PREFIX, Date.now());
  if (servers.length > 0) {
    throw new CliError(
      `a registry server is running on this data (${servers.join(', ')}): run the pass inside it (POST /_gc with admin credentials), or stop it first; "registry gc --dry-run" works now`,
      EXIT.TEMPFAIL,
    );
  }
}

function readOnlyRefusal(): CliError {
  return new CliError('the registry is in read-only mode (REGISTRY_READ_ONLY=true), so garbage collection deletes nothing; "registry gc --dry-run" shows what a pass would delete');
}

async function execute(command: Exclude<CliCommand, { kind: 'help' | 'config-check' }>, config: RegistryConfig, io: CliIo): Promise<number> {
  if (command.kind === 'gc' && config.readOnly && !command.dryRun) throw readOnlyRefusal();
  const secret = command.kind === 'user-add' || command.kind === 'user-passwd' ? await passwordFor(command, io) : undefined;
  if (command.kind === 'user-add') validate(CreateUserDto, { name: command.name, password: secret!.password });
  if (command.kind === 'user-passwd') validate(UpdateUserDto, { password: secret!.password });

  const adminPasswordFile = join(config.dataDir, 'initial-admin-password');
  const hadAdminPasswordFile = existsSync(adminPasswordFile);
  const app = await NestFactory.createApplicationContext(CliModule.forRoot(config), { logger: new CliLogger(io), abortOnError: false });
  try {
    // The server's first-start bootstrap ran in this context too: say so if it created `admin`.
    if (config.auth.mode === 'token' && !hadAdminPasswordFile && existsSync(adminPasswordFile)) {
      io.err(`registry: note: first use of ${config.dataDir}: created the user "admin" with a random password, in ${adminPasswordFile}\n`);
    }
    return await runInContext(command, app, config, io, secret);
  } finally {
    await app.close();
  }
}

async function runInContext(
  command: Exclude<CliCommand, { kind: 'help' | 'config-check' }>,
  app: INestApplicationContext,
  config: RegistryConfig,
  io: CliIo,
  secret: { password: string; generated: boolean } | undefined,
): Promise<number> {
  switch (command.kind) {
    case 'user-add': {
      const role = command.admin ? 'admin' : 'user';
      await app.get(UserService).create({ name: command.name, password: secret!.password, role }, cliActor());
      if (config.auth.mode === 'none') io.err('registry: note: REGISTRY_AUTH=none: nobody logs in until token auth is on\n');
      if (secret!.generated) {
        io.err(`created user "${command.name}" (role ${role}); its password, shown only this once:\n`);
        io.out(`${secret!.password}\n`);
      } else io.err(`created user "${command.name}" (role ${role})\n`);
      return EXIT.OK;
    }
    case 'user-passwd': {
      try {
        await app.get(UserService).update(command.name, { password: secret!.password }, cliActor());
      } catch (error) {
        if (error instanceof OciError && error.code === 'NOT_FOUND') throw new CliError(`no user named "${command.name}"`);
        throw error;
      }
      if (secret!.generated) {
        io.err(`changed the password of "${command.name}" (its docker logins end); the new one, shown only this once:\n`);
        io.out(`${secret!.password}\n`);
      } else io.err(`changed the password of "${command.name}" (its docker logins end)\n`);
      return EXIT.OK;
    }
    case 'gc': {
      if (!command.dryRun) await refuseBesideRunningServer(app.get(UnitOfWork));
      const report = await app.get(GcService).run({ dryRun: command.dryRun, trigger: 'cli' });
      io.out(`${JSON.stringify(report, null, 2)}\n`);
      return EXIT.OK;
    }
    case 'backup': {
      const report = await app.get(BackupService).run(command.dir);
      io.err(`backed up the database and ${report.blobs} blobs (${report.bytes} bytes) into ${report.dir} in ${report.durationMs} ms\n`);
      for (const note of report.notes) io.err(`registry: note: ${note}\n`);
      io.out(`${JSON.stringify(report, null, 2)}\n`);
      return EXIT.OK;
    }
  }
}

/** Errors a user can act on: one line. Programming errors (and Nest's wiring errors): the stack, exit 70. */
function report(error: unknown, io: CliIo): number {
  if (error instanceof CliError) {
    io.err(`registry: ${error.message}\n`);
    return error.exitCode;
  }
  if (error instanceof BackupError) {
    io.err(`registry: backup failed: ${error.message}\n`);
    return error.retryLater ? EXIT.TEMPFAIL : EXIT.FAILED;
  }
  if (error instanceof GcAlreadyRunning) {
    io.err('registry: a garbage collection pass is already running: try again when it has finished\n');
    return EXIT.TEMPFAIL;
  }
  if (error instanceof OciError) {
    io.err(`registry: ${error.code === 'UNSUPPORTED' ? readOnlyRefusal().message : error.message}\n`);
    return EXIT.FAILED;
  }
  const isBug = error instanceof TypeError || error instanceof ReferenceError || error instanceof RangeError || !(error instanceof Error) || /Exception$/.test(error.constructor.name);
  if (isBug) {
    io.err(`registry: unexpected error: ${error instanceof Error ? error.stack : String(error)}\n`);
    return EXIT.SOFTWARE;
  }
  io.err(`registry: ${error.message}\n`); // the environment: permissions, a locked or damaged database, a bad key file
  return EXIT.FAILED;
}

/** Runs `registry <argv…>` with `env` as its environment; answers the exit code. */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  let command: CliCommand;
  try {
    command = parseCliArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    // No command at all: the whole usage; a mistake: one line, and where the usage is.
    io.err(argv.length === 0 ? `registry: ${error.message}\n\n${USAGE}` : `registry: ${error.message}\nRun "registry --help" for the commands and their options.\n`);
    return EXIT.USAGE;
  }
  if (command.kind === 'help') {
    io.out(USAGE);
    return EXIT.OK;
  }
  if (command.kind === 'config-check') {
    const check = checkConfiguration(env);
    if (!check.ok) {
      io.err(`Invalid registry configuration:\n  ${check.problems.join('\n  ')}\n`);
      return EXIT.CONFIG;
    }
    io.out(`${JSON.stringify(maskSecrets(check.config), null, 2)}\n`);
    io.err('registry: the configuration is valid\n');
    return EXIT.OK;
  }
  let config: RegistryConfig;
  try {
    config = loadRegistryConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.err(`${error.message}\n`);
    return EXIT.CONFIG;
  }
  try {
    return await execute(command, config, io);
  } catch (error) {
    return report(error, io);
  }
}
