/**
 * The frame every real-client spec (test/real-clients) shares: a fresh registry (startRegistry),
 * a recording proxy in front of it that the client talks to, the test images and a ClientSandbox,
 * set up before the spec's tests and torn down after them. When the client or the images are
 * missing and REGISTRY_TEST_REQUIRE_CLIENTS is not 1, the spec registers one test that names the
 * reason instead (a file with no tests is an error in jest).
 */
import { ClientName, ClientSandbox, realClientSkipReason } from './clients';
import { TestImages, clientsRequired, ensureTestImages } from './images';
import { RecordedRequest, RecordingProxy, startRecordingProxy } from './recording-proxy';
import { RunningRegistry, startRegistry } from './start-registry';

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
  ) {}

  /** The registry's own URL: checks go here directly, so they never show up in the proxy log. */
  get url(): string {
    return this.registry.url;
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
      registry = await startRegistry();
      proxy = await startRecordingProxy(registry.url);
      sandbox = await ClientSandbox.create(client);
      current = new RealClientRun(client, images, registry, proxy, sandbox);
    }, 25 * 60_000);

    afterAll(async () => {
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
