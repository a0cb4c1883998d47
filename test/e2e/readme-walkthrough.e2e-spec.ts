import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RunningRegistry, startRegistry } from '../utils/start-registry';
import { makeTempDir, removeDir } from '../utils/temp-dir';

const run = promisify(execFile);

/**
 * The README's curl walkthrough, run as written against the production default (token auth,
 * a first start that generates the admin password): only the registry address and the data
 * directory differ.
 */
describe('README walkthrough', () => {
  let registry: RunningRegistry;
  let work: string;

  beforeAll(async () => {
    registry = await startRegistry({ env: { REGISTRY_AUTH: 'token' } });
    work = makeTempDir('readme-walk-');
  });
  afterAll(async () => {
    await registry.stop();
    removeDir(work);
  });

  it('pushes, pulls and lists exactly as the README shows', async () => {
    const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Walkthrough with curl'));
    const script = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
    expect(script).toContain('R=http://127.0.0.1:3002');
    expect(script).toContain('./data/initial-admin-password');
    const adapted = script!.replace('R=http://127.0.0.1:3002', `R=${registry.url}`).replace('./data/initial-admin-password', join(registry.dataDir, 'initial-admin-password'));
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', adapted], {
      cwd: work,
      timeout: 30_000,
    });
    expect(stdout.split('\n').map((line) => line.trimEnd())).toEqual([
      `WWW-Authenticate: Bearer realm="${registry.url}/token",service="nest-oci-registry"`,
      'HTTP/1.1 201 Created',
      'HTTP/1.1 201 Created',
      expect.stringMatching(/^Docker-Content-Digest: sha256:[0-9a-f]{64}$/),
      'manifest identical',
      'hello, registry',
      'hello',
      '{"name":"demo/hello","tags":["v1"]}',
      '{"repositories":["demo/hello"]}',
      '{"repository":"*","user":"*","permissions":["pull"]}',
      '{"name":"reader","role":"user"}',
      'reader pulls',
      '401',
      '{"allowed":false,"reason":"no-policy"}',
      '',
    ]);
  });
});
