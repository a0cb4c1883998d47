/**
 * The frame every real-client spec (test/real-clients) shares: a fresh registry with token
 * authentication (startRegistry({ auth: true }), the production default), a recording proxy in
 * front of it that the client talks to, the test images and a ClientSandbox, set up before the
 * spec's tests and torn down after them. When the client or the images are missing and
 * REGISTRY_TEST_REQUIRE_CLIENTS is not 1, the spec registers one test that names the reason
 * instead (a file with no tests is an error in jest).
 *
 * Access is set up through the admin REST API as an operator would: two non-admin users, `pusher`
 * (member of group `writers`, to which the seed policy "every logged-in user may pull, push and
 * delete everything" is narrowed) and `reader` (a policy grants it pull on the spec's
 * repositories, nothing else). Clients log in as one of them; the challenges' token realm is built
 * from the Host the client used (REGISTRY_PUBLIC_URL unset), so token requests go through the
 * proxy too and are part of the recorded traffic. The spec's own checks bypass both the proxy and
 * the token flow: they go to the registry directly with the admin's Basic credentials.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClientName, ClientSandbox, RunResult, realClientSkipReason } from './clients';
import { ImageContent, LayerSummary, TestImageName, TestImages, clientsRequired, ensureTestImages } from './images';
import {
  RecordedRequest,
  RecordingProxy,
  completedUploads,
  describeRequests,
  downloadedBlobBytes,
  expectMountedNotUploaded,
  startRecordingProxy,
} from './recording-proxy';
import { RegistryTarget, ServedImage, deleteManifest, expectIdenticalImage, expectSameContent, fetchManifest, tagsOf } from './registry-checks';
import { RunningRegistry, startRegistry } from './start-registry';
import { ADMIN, AuditEventView, Login, PolicyView, adminCall, auditEvents, basic, createPolicy, createUser } from './tokens';

/** Per-step limit for real-client tests (big pushes and pulls on a slow 2-core machine). */
export const STEP_TIMEOUT_MS = 10 * 60_000;
/** Per-command limit for a single client invocation. */
export const COMMAND_TIMEOUT_MS = 8 * 60_000;

export class RealClientRun {
  constructor(
    readonly client: ClientName,
    readonly images: TestImages,
    readonly registry: RunningRegistry,
    readonly proxy: RecordingProxy,
    readonly sandbox: ClientSandbox,
    /** The non-admin user the client logs in as: may pull, push and delete everything (group `writers`). */
    readonly user: Login,
    /** A non-admin user that may only pull, and only the spec's repositories (e2e/<client>/*). */
    readonly reader: Login,
  ) {}

  /**
   * The registry's own URL with the admin's Basic credentials: the spec's checks go here directly,
   * so they never show up in the proxy log and do not depend on the token flow under test.
   */
  get direct(): RegistryTarget {
    return { url: this.registry.url, authorization: basic(ADMIN.user, ADMIN.password) };
  }

  /** `user:password`, as clients take credentials on the command line (skopeo --creds, ctr --user). */
  readonly creds = (login: Login = this.user): string => `${login.user}:${login.password}`;

  /** The registry's audit log (admin REST), newest first. */
  audit(query: Record<string, string> = {}): Promise<AuditEventView[]> {
    return auditEvents(this.registry, query);
  }

  /** Repository name for a test image, e.g. e2e/skopeo/big (an arrow, so it can be destructured). */
  readonly repo = (name: string): string => `e2e/${this.client}/${name}`;

  /** Image reference through the proxy, e.g. 127.0.0.1:PORT/e2e/skopeo/big:latest. */
  readonly ref = (name: string, tag = 'latest'): string => `${this.proxy.host}/${this.repo(name)}:${tag}`;

  /** Runs fn and returns what it sent to the registry meanwhile. */
  async traffic<T>(fn: () => Promise<T>): Promise<{ result: T; seen: RecordedRequest[] }> {
    const mark = this.proxy.mark();
    const result = await fn();
    return { result, seen: this.proxy.since(mark) };
  }
}

/**
 * describe() for a real-client spec. `body` gets an accessor for the run, valid inside hooks and
 * tests (the run is created in beforeAll, which ensures the images first and may build them).
 */
export function describeRealClient(client: ClientName, title: string, body: (run: () => RealClientRun) => void): void {
  describe(title, () => {
    const skipReason = realClientSkipReason(client);
    if (skipReason) {
      it(`is not run on this machine: ${skipReason}`, () => expect(clientsRequired()).toBe(false));
      return;
    }

    let current: RealClientRun | undefined;
    let registry: RunningRegistry | undefined;
    let proxy: RecordingProxy | undefined;
    let sandbox: ClientSandbox | undefined;

    beforeAll(async () => {
      const dir = await ensureTestImages();
      if (!dir) throw new Error('no test images (see test/utils/images.ts)');
      const images = new TestImages(dir);
      registry = await startRegistry({ auth: true });
      const { user, reader } = await setUpAccess(registry, client);
      proxy = await startRecordingProxy(registry.url);
      sandbox = await ClientSandbox.create(client);
      current = new RealClientRun(client, images, registry, proxy, sandbox, user, reader);
    }, 25 * 60_000);

    afterAll(async () => {
      // REGISTRY_TEST_TRAFFIC_DIR=<dir>: keep what the client sent (through the proxy) and ran, for diagnosis
      const keep = process.env['REGISTRY_TEST_TRAFFIC_DIR'];
      if (keep && proxy) {
        fs.mkdirSync(keep, { recursive: true });
        fs.writeFileSync(path.join(keep, `${client}-traffic.log`), `${describeRequests(proxy.requests)}\n`);
        if (sandbox && fs.existsSync(sandbox.commandLog)) fs.copyFileSync(sandbox.commandLog, path.join(keep, `${client}-commands.log`));
      }
      try {
        await sandbox?.cleanup();
      } finally {
        try {
          await proxy?.close();
        } finally {
          await registry?.stop();
        }
      }
    }, 2 * 60_000);

    body(() => {
      if (!current) throw new Error(`the ${client} spec did not start (see the beforeAll error)`);
      return current;
    });
  });
}

/**
 * The users and policies of a real-client run, made through the admin REST API: `pusher` in group
 * `writers`, the seed policy (`*` may pull, push, delete on `*`) narrowed to that group, and
 * `reader` with a pull-only policy on e2e/<client>/*. Checks that the registry decides as intended.
 */
async function setUpAccess(registry: RunningRegistry, client: ClientName): Promise<{ user: Login; reader: Login }> {
  const user = await createUser(registry, 'pusher', 'pusher-Secret.1');
  const reader = await createUser(registry, 'reader', 'reader-Secret.2');
  await adminCall(registry, 'POST', '/api/v1/groups', { name: 'writers', members: [user.user] });
  const { policies } = await adminCall<{ policies: PolicyView[] }>(registry, 'GET', '/api/v1/policies');
  const seed = policies.find((p) => p.repository === '*' && p.user === '*');
  if (!seed) throw new Error(`no seed policy for every logged-in user: ${JSON.stringify(policies)}`);
  await adminCall(registry, 'PATCH', `/api/v1/policies/${seed.id}`, { user: 'group:writers' });
  await createPolicy(registry, `e2e/${client}/*`, reader.user, ['pull']);

  const check = async (who: string, action: string): Promise<boolean> =>
    (await adminCall<{ allowed: boolean }>(registry, 'POST', '/api/v1/access/check', { user: who, repository: `e2e/${client}/tiny`, action })).allowed;
  const decisions = {
    pusher: [await check(user.user, 'pull'), await check(user.user, 'push'), await check(user.user, 'delete')],
    reader: [await check(reader.user, 'pull'), await check(reader.user, 'push'), await check(reader.user, 'delete')],
    anonymous: [await check('anonymous', 'pull')],
  };
  expect(decisions).toEqual({ pusher: [true, true, true], reader: [true, false, false], anonymous: [false] });
  return { user, reader };
}

/**
 * A client command the registry refused: it exited non-zero with a message about authorization,
 * not for some unrelated reason.
 */
export function expectRefused(result: RunResult): void {
  expect(result.code).not.toBe(0);
  expect(`${result.stderr}\n${result.stdout}`).toMatch(/unauthorized|denied|authentication required|insufficient.scope|not authorized|forbidden|invalid username\/password/i);
}

/**
 * `reader` could not push to `repo` in this traffic: no upload and no manifest PUT succeeded there,
 * and the registry audited at least one `access.denied` of reader's push on it.
 */
export async function expectReaderPushDenied(run: RealClientRun, repo: string, seen: readonly RecordedRequest[]): Promise<void> {
  const succeeded = seen.filter((r) => r.path.startsWith(`/v2/${repo}/`) && r.method !== 'GET' && r.method !== 'HEAD' && r.status >= 200 && r.status < 300);
  expect(succeeded.map((r) => `${r.method} ${r.path} -> ${r.status}`)).toEqual([]);
  const denied = await run.audit({ type: 'access.denied', actor: run.reader.user, repository: repo });
  expect(denied.filter((e) => e.outcome === 'denied' && (e.action ?? '').split(',').includes('push')).length).toBeGreaterThan(0);
}

/*
 * Checks the real-client specs share. Clients that keep images byte-identical (skopeo, ctr) are
 * compared with the test images byte for byte; clients that recompress layers on push (podman,
 * docker) are compared by content (config digest and diff_ids), against the ServedImage each push
 * left behind (PushedImages).
 */

/** What the registry served after each push of a recompressing client, for the spec's later tests. */
export class PushedImages {
  private readonly served = new Map<TestImageName, ServedImage>();

  set(name: TestImageName, image: ServedImage): void {
    this.served.set(name, image);
  }

  /** The image pushed as `name`; throws if it was not (an earlier test failed). */
  get(name: TestImageName): ServedImage {
    const image = this.served.get(name);
    if (!image) throw new Error(`${name} was not pushed (an earlier test failed)`);
    return image;
  }
}

/** The original content of a single-platform test image (what a recompressed push must keep). */
export async function originalContent(images: TestImages, name: Exclude<TestImageName, 'multi'>): Promise<ImageContent> {
  return (await images.layout(name).contents())[0];
}

/** A platform as clients take it on the command line: os/architecture[/variant]. */
export function platformOf({ platform: p }: ImageContent): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/**
 * big2 reached its repository with its base layer mounted from big's repository (not uploaded)
 * and its own layer uploaded.
 */
function expectBaseMountedOwnUploaded(run: RealClientRun, seen: readonly RecordedRequest[], base: LayerSummary, ownDigest: string): void {
  expectMountedNotUploaded(seen, { repo: run.repo('big2'), from: run.repo('big'), digest: base.digest, size: base.size });
  expect(completedUploads(seen, run.repo('big2')).has(ownDigest)).toBe(true);
}

/** big2's test image layers; its base layer is big's first layer (the fixture's premise, asserted). */
export function big2SharedBaseLayers(images: TestImages): { base: LayerSummary; own: LayerSummary } {
  const [base, own] = images.manifest('big2').layers;
  expect(base.digest).toBe(images.manifest('big').layers[0].digest); // the fixture's premise
  return { base, own };
}

/**
 * A byte-identical push of `name` (traffic `seen`): its config and every layer were uploaded to its
 * repository, and the registry serves the test image byte for byte.
 */
export async function expectPushedIdentically(run: RealClientRun, name: Exclude<TestImageName, 'multi'>, seen: readonly RecordedRequest[]): Promise<void> {
  const uploaded = completedUploads(seen, run.repo(name));
  const m = run.images.manifest(name);
  for (const digest of [m.config, ...m.layers.map((l) => l.digest)]) expect(uploaded.has(digest)).toBe(true);
  await expectIdenticalImage(run.direct, run.repo(name), 'latest', run.images.layout(name));
}

/**
 * A byte-identical push of big2 (traffic `seen`) mounted the base layer from big's repository
 * instead of uploading it, uploaded its own layer, and the registry serves big2 byte for byte.
 */
export async function expectBig2PushedIdenticallyWithMountedBase(
  run: RealClientRun,
  seen: readonly RecordedRequest[],
  layers: { base: LayerSummary; own: LayerSummary },
): Promise<void> {
  expectBaseMountedOwnUploaded(run, seen, layers.base, layers.own.digest);
  await expectIdenticalImage(run.direct, run.repo('big2'), 'latest', run.images.layout('big2'));
}

/**
 * A recompressed push of `name` (traffic `seen`, the manifest digest the client reported): the
 * registry serves the original content under that digest and every served layer was uploaded to
 * its repository. Records and returns what was served.
 */
export async function expectPushedSameContent(
  run: RealClientRun,
  pushed: PushedImages,
  name: TestImageName,
  content: ImageContent,
  push: { result: string; seen: readonly RecordedRequest[] },
): Promise<ServedImage> {
  const image = await expectSameContent(run.direct, run.repo(name), 'latest', content);
  expect(image.digest).toBe(push.result);
  const uploaded = completedUploads(push.seen, run.repo(name));
  for (const layer of image.manifest.layers) expect(uploaded.has(layer.digest)).toBe(true);
  pushed.set(name, image);
  return image;
}

/**
 * The premise of the big2 mount test for a recompressing client: big2's original base layer is
 * big's (same diff_id). Returns big2's original content.
 */
export async function big2ContentSharingBigsBase(run: RealClientRun, pushed: PushedImages): Promise<ImageContent> {
  const content = await originalContent(run.images, 'big2');
  expect(content.diffIds[0]).toBe(pushed.get('big').content.diffIds[0]); // the fixture's premise
  return content;
}

/**
 * A recompressed push of big2 (traffic `seen`, the manifest digest the client reported): the
 * registry serves the original content under that digest, its base layer is the same compressed
 * blob as big's and arrived by mount from big's repository, not upload, and its own layer was
 * uploaded. Records what was served.
 */
export async function expectBig2PushedSameContentWithMountedBase(
  run: RealClientRun,
  pushed: PushedImages,
  content: ImageContent,
  push: { result: string; seen: readonly RecordedRequest[] },
): Promise<void> {
  const image = await expectSameContent(run.direct, run.repo('big2'), 'latest', content);
  expect(image.digest).toBe(push.result);
  // the same compressed base blob as in big, and it arrived by mount, not upload
  const base = pushed.get('big').manifest.layers[0];
  expect(image.manifest.layers[0].digest).toBe(base.digest);
  expectBaseMountedOwnUploaded(run, push.seen, base, image.manifest.layers[1].digest);
  pushed.set('big2', image);
}

/**
 * Every layer the client did not have yet (not in `have`) came from the registry in this pull
 * (traffic `seen`): at least its size was downloaded. Adds the layers to `have`.
 */
export function expectNewLayersDownloaded(seen: readonly RecordedRequest[], layers: readonly LayerSummary[], have: Set<string>): void {
  for (const layer of layers.filter((l) => !have.has(l.digest))) {
    expect(downloadedBlobBytes(seen, layer.digest)).toBeGreaterThanOrEqual(layer.size);
    have.add(layer.digest);
  }
}

/**
 * After tiny was tagged v1: tiny lists latest and v1, every other test image the tags given in
 * `others` (just latest where not given).
 */
export async function expectTagsAfterTaggingTinyV1(
  run: RealClientRun,
  others: Partial<Record<Exclude<TestImageName, 'tiny'>, string[]>> = {},
): Promise<void> {
  expect(await tagsOf(run.direct, run.repo('tiny'))).toEqual(['latest', 'v1']);
  for (const name of ['big', 'big2', 'multi'] as const) expect(await tagsOf(run.direct, run.repo(name))).toEqual(others[name] ?? ['latest']);
}

/** The registry serves `name:tag` directly (a 200 with this manifest digest). */
export async function expectTagServes(run: RealClientRun, name: TestImageName, tag: string, digest: string): Promise<void> {
  const m = await fetchManifest(run.direct, run.repo(name), tag);
  expect([m.status, m.digest]).toEqual([200, digest]);
}

/**
 * A DELETE of `name`'s manifest by `digest` over HTTP is accepted (202); afterwards neither the
 * digest nor latest resolves (404) and the repository lists no tags.
 */
export async function expectManifestDeletedByDigest(run: RealClientRun, name: TestImageName, digest: string): Promise<void> {
  expect(await deleteManifest(run.direct, run.repo(name), digest)).toBe(202);
  expect((await fetchManifest(run.direct, run.repo(name), digest)).status).toBe(404);
  expect((await fetchManifest(run.direct, run.repo(name), 'latest')).status).toBe(404);
  expect(await tagsOf(run.direct, run.repo(name))).toEqual([]);
}

/**
 * Deletes big2 (byte-identical clients) by digest over HTTP; big, which shares its base layer with
 * the deleted big2, must still be served whole, byte for byte.
 */
export async function expectBig2DeletedLeavingBigIdentical(run: RealClientRun): Promise<void> {
  await expectManifestDeletedByDigest(run, 'big2', run.images.summary('big2').digest);
  // big shares its base layer with the deleted big2 and must still be whole
  await expectIdenticalImage(run.direct, run.repo('big'), 'latest', run.images.layout('big'));
}

/**
 * Deletes the pushed big2 (recompressing clients) by digest over HTTP; big, which shares its base
 * layer with the deleted big2, must still be served with every blob intact, under its digest.
 */
export async function expectBig2DeletedLeavingBigSameContent(run: RealClientRun, pushed: PushedImages): Promise<void> {
  const big2 = pushed.get('big2');
  const big = pushed.get('big');
  await expectManifestDeletedByDigest(run, 'big2', big2.digest);
  // big shares its base layer with the deleted big2: every blob of it is still served intact
  const again = await expectSameContent(run.direct, run.repo('big'), 'latest', big.content);
  expect(again.digest).toBe(big.digest);
}

/** What a local image store reports for an image (docker / podman image inspect). */
export interface InspectedImage {
  id: string;
  /** podman's Digest ('' where the client reports none). */
  digest: string;
  architecture: string;
  repoDigests: string[];
  /** RootFS.Layers: the diff_ids. */
  layers: string[];
}

/** Parses `<client> image inspect` output (a JSON array with the image first). */
export function parseImageInspect(stdout: string, client: string, image: string): InspectedImage {
  const v: unknown = JSON.parse(stdout);
  const first: unknown = Array.isArray(v) ? v[0] : undefined;
  if (typeof first !== 'object' || first === null || !('Id' in first) || !('RootFS' in first)) {
    throw new Error(`unexpected ${client} image inspect output for ${image}`);
  }
  const rootfs = first.RootFS;
  const layers = typeof rootfs === 'object' && rootfs !== null && 'Layers' in rootfs && Array.isArray(rootfs.Layers) ? rootfs.Layers : [];
  const repoDigests = 'RepoDigests' in first && Array.isArray(first.RepoDigests) ? first.RepoDigests : [];
  return {
    id: String(first.Id),
    digest: 'Digest' in first ? String(first.Digest) : '',
    architecture: 'Architecture' in first ? String(first.Architecture) : '',
    repoDigests: repoDigests.map(String),
    layers: layers.map(String),
  };
}

/** A platform image pulled from the multi list/index is the original: its config as image ID, its architecture and diff_ids. */
export function expectLocalPlatformImage(local: InspectedImage, content: ImageContent, id: string): void {
  expect(local).toMatchObject({ id, architecture: content.platform.architecture });
  expect(local.layers).toEqual(content.diffIds);
}
