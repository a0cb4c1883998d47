/**
 * The built admin CLI (`node dist/cli.js …`) as an operator runs it. `npm test` builds dist/
 * before jest runs; a missing dist/cli.js is a failure that says to run `npm run build`, never
 * a skip. Each run gets a clean environment (PATH and HOME, plus `env`: no REGISTRY_* from the
 * caller's shell) and a working directory of its own, so no developer `.env` is read.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './images';
import { makeTempDir, removeDir } from './temp-dir';

export const CLI_JS = path.join(REPO_ROOT, 'dist', 'cli.js');

/** The path of dist/cli.js; throws (failing the test) when it has not been built. */
export function requireBuiltCli(): string {
  if (!fs.existsSync(CLI_JS)) throw new Error(`${CLI_JS} does not exist: run \`npm run build\` first (npm test does it before jest)`);
  return CLI_JS;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `registry <args…>` to its end. `stdin` is written then closed (none: an empty stdin);
 * `cwd` defaults to a fresh empty directory, removed afterwards.
 */
export async function runRegistryCli(args: string[], options: { env?: Record<string, string>; stdin?: string; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const cli = requireBuiltCli();
  const cwd = options.cwd ?? makeTempDir('registry-cli-cwd-');
  try {
    return await new Promise<CliResult>((resolve, reject) => {
      const child = spawn(process.execPath, [cli, ...args], {
        cwd,
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? cwd, ...options.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin.end(options.stdin ?? '');
    });
  } finally {
    if (options.cwd === undefined) removeDir(cwd);
  }
}
