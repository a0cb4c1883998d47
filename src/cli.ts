#!/usr/bin/env node
/**
 * `registry`: the admin CLI (package.json `bin`; `npm run cli -- <command>`). Reads the
 * environment and ./.env like the server (main.ts), then runs one command: see USAGE in
 * cli/cli-args.ts, or `registry --help`.
 */
import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { runCli } from './cli/run-cli';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

if (existsSync('.env')) process.loadEnvFile('.env');
runCli(process.argv.slice(2), process.env, {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  readStdin,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`registry: unexpected error: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 70;
  },
);
