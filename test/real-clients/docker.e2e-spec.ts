/**
 * docker (a private dockerd plus the docker CLI) against the registry: `docker login` as a
 * non-admin user, then push, cross-repository mount, pull, a manifest list made with `docker
 * manifest`, tags and delete. Images get into the daemon offline with `skopeo copy ...
 * docker-daemon:` (a docker load). dockerd recompresses layers on push, so images are compared by
 * content: the config digest (docker's image ID) must be the original one and every layer the
 * registry serves must gunzip to the original diff_id. The daemon talks to the registry (and its
 * token endpoint) through a recording proxy, which is how the mount of big2's base layer and the
 * token flow are asserted.
 *
 * The token flow docker drives: `docker login` GETs a token with Basic credentials and
 * `offline_token=true`, and stores the refresh token it gets as `identitytoken` instead of the
 * password; every later push and pull (daemon and `docker manifest` alike) gets its tokens by
 * POSTing `grant_type=refresh_token`, with no GET fallback. A pull-only user can pull but not push.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Dockerd, RunResult } from '../utils/clients';
import { TestImageName } from '../utils/images';
import { RecordedRequest, requestedScopes, tokenRequests, uploadedBytes } from '../utils/recording-proxy';
import { expectSameIndexContent, tagsOf } from '../utils/registry-checks';
import type { Login } from '../utils/tokens';
import {
  COMMAND_TIMEOUT_MS,
  InspectedImage,
  PushedImages,
  STEP_TIMEOUT_MS,
  big2ContentSharingBigsBase,
  describeRealClient,
  expectBig2DeletedLeavingBigSameContent,
  expectBig2PushedSameContentWithMountedBase,
  expectLocalPlatformImage,
  expectNewLayersDownloaded,
  expectPushedSameContent,
  expectReaderPushDenied,
  expectRefused,
  expectTagsAfterTaggingTinyV1,
  originalContent,
  parseImageInspect,
  platformOf,
} from '../utils/real-clients';

describeRealClient('docker', 'docker against the registry', (run) => {
  const pushed = new PushedImages();
  let dockerd: Dockerd | undefined;

  beforeAll(async () => {
    dockerd = await run().sandbox.startDockerd([run().proxy.host]);
  }, 3 * 60_000);

  /** The docker CLI on the private daemon; `config` is a DOCKER_CONFIG dir other than the pushing user's. */
  const dockerRun = (args: string[], opts: { config?: string; allowFailure?: boolean } = {}): Promise<RunResult> => {
    if (!dockerd) throw new Error('dockerd did not start (see the beforeAll error)');
    // DOCKER_CLI_EXPERIMENTAL: `docker manifest` on older (20.10) CLIs
    const env = { DOCKER_CLI_EXPERIMENTAL: 'enabled', ...(opts.config !== undefined && { DOCKER_CONFIG: opts.config }) };
    return dockerd.docker(args, { timeoutMs: COMMAND_TIMEOUT_MS, env, allowFailure: opts.allowFailure });
  };
  const docker = async (args: string[], config?: string): Promise<string> => (await dockerRun(args, { config })).stdout.trim();
  /** The pulling-only user's DOCKER_CONFIG dir. */
  const readerConfig = (): string => run().sandbox.path('docker', 'reader-cfg');
  const login = (who: Login, config?: string, allowFailure = false): Promise<{ result: RunResult; seen: RecordedRequest[] }> =>
    run().traffic(() => dockerRun(['login', '--username', who.user, '--password', who.password, run().proxy.host], { config, allowFailure }));
  /** What a DOCKER_CONFIG's config.json holds for the registry (through the proxy). */
  const storedAuth = (config = dockerd?.configDir ?? ''): { auth?: string; identitytoken?: string } | undefined => {
    const v: unknown = JSON.parse(fs.readFileSync(path.join(config, 'config.json'), 'utf8'));
    const auths = typeof v === 'object' && v !== null && 'auths' in v && typeof v.auths === 'object' && v.auths !== null ? (v.auths as Record<string, { auth?: string; identitytoken?: string }>) : {};
    return auths[run().proxy.host];
  };
  /**
   * Token requests of a push or pull with a stored identity token: POSTs of the refresh token
   * only, all answered. The daemon sends client_id `docker`; the CLI's own registry client
   * (`docker manifest`) sends distribution's default, `registry-client`.
   */
  const expectRefreshGrants = (seen: readonly RecordedRequest[], clientId = 'docker'): void => {
    const tokens = tokenRequests(seen);
    expect(tokens.length).toBeGreaterThan(0);
    expect(tokens.map((t) => `${t.method} ${t.grantType} ${t.clientId} ${t.status}`)).toEqual(tokens.map(() => `POST refresh_token ${clientId} 200`));
  };
  /** docker load, offline: skopeo copies the OCI layout into the daemon as `target`. */
  const load = async (name: TestImageName, target: string, platform: string[] = []): Promise<void> => {
    if (!dockerd) throw new Error('dockerd did not start (see the beforeAll error)');
    const source = `oci:${run().images.layout(name).dir}:latest`;
    await run().sandbox.skopeo(['copy', '--quiet', ...platform, '--dest-daemon-host', dockerd.host, source, `docker-daemon:${target}`], {
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
  };
  /** docker push; returns the manifest digest docker reports. */
  const push = async (target: string): Promise<string> => {
    const out = await docker(['push', target]);
    const m = /digest: (sha256:[a-f0-9]{64}) size: \d+/.exec(out);
    if (!m) throw new Error(`docker push ${target} reported no digest:\n${out}`);
    return m[1];
  };
  const inspect = async (image: string): Promise<InspectedImage> => parseImageInspect(await docker(['image', 'inspect', image]), 'docker', image);
  const removeAllImages = async (): Promise<void> => {
    const ids = [...new Set((await docker(['images', '--all', '--quiet', '--no-trunc'])).split('\n').filter(Boolean))];
    if (ids.length > 0) await docker(['image', 'rm', '--force', ...ids]);
    expect(await docker(['images', '--all', '--quiet'])).toBe('');
  };

  it('logs in with docker login, storing the refresh token the registry hands out instead of the password', async () => {
    const { user } = run();
    const wrong = await login({ user: user.user, password: 'not-the-password' }, undefined, true);
    expectRefused(wrong.result);
    expect(tokenRequests(wrong.seen).map((t) => `${t.method} ${t.status}`)).toEqual(['GET 401']);
    expect(storedAuth()).toBeUndefined();

    const { seen } = await login(user);
    // ping, GET token (Basic, offline_token=true, no scope), ping again with the token
    const tokens = tokenRequests(seen);
    expect(tokens).toEqual([{ method: 'GET', scopes: [], basic: true, offline: true, clientId: 'docker', status: 200 }]);
    expect(seen.find((r) => r.path === '/token')?.query.get('account')).toBe(user.user);
    expect(seen.filter((r) => r.path === '/v2/').map((r) => `${r.authScheme ?? 'none'} ${r.status}`)).toEqual(['none 401', 'bearer 200']);
    const stored = storedAuth();
    expect(stored?.identitytoken).toMatch(/^rrt_/);
    expect(fs.readFileSync(path.join(dockerd?.configDir ?? '', 'config.json'), 'utf8')).not.toContain(user.password);
  }, STEP_TIMEOUT_MS);

  it('pushes tiny and big from the daemon (recompressed: same config digest, layers gunzip to the original diff_ids)', async () => {
    const { images, ref, repo, user } = run();
    const since = new Date().toISOString();
    for (const name of ['tiny', 'big'] as const) {
      const content = await originalContent(images, name);
      await load(name, ref(name));
      expect((await inspect(ref(name))).id).toBe(content.configDigest);

      const traffic = await run().traffic(() => push(ref(name)));
      await expectPushedSameContent(run(), pushed, name, content, traffic);
      // the daemon got its tokens with the stored refresh token (POST), never with the password
      expectRefreshGrants(traffic.seen);
      expect(requestedScopes(traffic.seen)).toContain(`repository:${repo(name)}:pull,push`);
    }
    // and the registry saw OAuth logins of the user (the refresh-token POSTs)
    const logins = await run().audit({ type: 'login', actor: user.user, since });
    expect(logins.length).toBeGreaterThan(0);
    expect(logins.map((e) => [e.outcome, (e.detail as { via?: string } | undefined)?.via])).toEqual(logins.map(() => ['success', 'oauth']));
  }, STEP_TIMEOUT_MS);

  it('pushes big2 by mounting the base layer it shares with big from e2e/docker/big instead of uploading it', async () => {
    const { ref } = run();
    const content = await big2ContentSharingBigsBase(run(), pushed);
    await load('big2', ref('big2'));

    const traffic = await run().traffic(() => push(ref('big2')));
    await expectBig2PushedSameContentWithMountedBase(run(), pushed, content, traffic);
    // the token for the mount covered pull on the source repository
    expectRefreshGrants(traffic.seen);
    expect(requestedScopes(traffic.seen)).toContain(`repository:${run().repo('big')}:pull`);
  }, STEP_TIMEOUT_MS);

  it('pulls tiny, big and big2 back into an emptied daemon', async () => {
    const { repo, ref, proxy } = run();
    await removeAllImages();
    const have = new Set<string>();
    for (const name of ['tiny', 'big', 'big2'] as const) {
      const image = pushed.get(name);
      const { seen } = await run().traffic(() => docker(['pull', '--quiet', ref(name)]));
      const local = await inspect(ref(name));
      expect(local.id).toBe(image.content.configDigest);
      expect(local.repoDigests).toContain(`${proxy.host}/${repo(name)}@${image.digest}`);
      expect(local.layers).toEqual(image.content.diffIds);
      // every layer the daemon did not have yet came from the registry
      expectNewLayersDownloaded(seen, image.manifest.layers, have);
      expectRefreshGrants(seen);
    }
  }, STEP_TIMEOUT_MS);

  it('pushes a manifest list made with docker manifest create/annotate/push and pulls each platform back', async () => {
    const { images, direct, repo, ref } = run();
    const originals = await images.layout('multi').contents();
    const tags: string[] = [];
    for (const content of originals) {
      const { os, architecture, variant } = content.platform;
      const tag = ref('multi', architecture);
      await load('multi', tag, ['--override-os', os, '--override-arch', architecture, ...(variant ? ['--override-variant', variant] : [])]);
      expect((await inspect(tag)).id).toBe(content.configDigest);
      await push(tag);
      tags.push(tag);
    }
    await docker(['manifest', 'create', '--insecure', ref('multi'), ...tags]);
    for (const [i, content] of originals.entries()) {
      const { variant } = content.platform;
      if (variant) await docker(['manifest', 'annotate', '--variant', variant, ref('multi'), tags[i]]);
    }
    // `docker manifest` talks to the registry itself (not through the daemon), with the same stored refresh token
    const { result: out, seen } = await run().traffic(() => docker(['manifest', 'push', '--insecure', '--purge', ref('multi')]));
    expectRefreshGrants(seen, 'registry-client');
    const index = await expectSameIndexContent(direct, repo('multi'), 'latest', originals);
    expect(out).toContain(index.digest);

    await removeAllImages();
    for (const content of originals) {
      await docker(['pull', '--quiet', '--platform', platformOf(content), ref('multi')]);
      expectLocalPlatformImage(await inspect(ref('multi')), content, content.configDigest);
    }
  }, STEP_TIMEOUT_MS);

  it('tags within a repository without re-uploading and lists tags over HTTP', async () => {
    const { ref } = run();
    const tiny = pushed.get('tiny');
    await docker(['pull', '--quiet', ref('tiny')]);
    await docker(['tag', ref('tiny'), ref('tiny', 'v1')]);
    const { result: digest, seen } = await run().traffic(() => push(ref('tiny', 'v1')));
    expect(digest).toBe(tiny.digest);
    expect(uploadedBytes(seen)).toBe(0);

    await expectTagsAfterTaggingTinyV1(run(), { multi: ['amd64', 'arm64', 'latest'] });
  }, STEP_TIMEOUT_MS);

  it('lets a pull-only user (docker login with its own config) pull tiny but refuses its push', async () => {
    const { reader, ref, repo, direct } = run();
    const tiny = pushed.get('tiny');
    fs.mkdirSync(readerConfig(), { recursive: true });
    fs.writeFileSync(path.join(readerConfig(), 'config.json'), '{}\n');
    await login(reader, readerConfig());
    expect(storedAuth(readerConfig())?.identitytoken).toMatch(/^rrt_/);

    await removeAllImages();
    const pulled = await run().traffic(() => docker(['pull', '--quiet', ref('tiny')], readerConfig()));
    expect((await inspect(ref('tiny'))).id).toBe(tiny.content.configDigest);
    expectRefreshGrants(pulled.seen);

    await docker(['tag', ref('tiny'), ref('reader')]);
    const { result, seen } = await run().traffic(() => dockerRun(['push', ref('reader')], { config: readerConfig(), allowFailure: true }));
    expectRefused(result);
    await expectReaderPushDenied(run(), repo('reader'), seen);
    expectRefreshGrants(seen);
    expect(await tagsOf(direct, repo('reader'))).toEqual([]);
  }, STEP_TIMEOUT_MS);

  it('deletes a manifest by digest over HTTP, leaving the layers big shares with it intact', async () => {
    await expectBig2DeletedLeavingBigSameContent(run(), pushed);
  }, STEP_TIMEOUT_MS);
});
