/**
 * HTTPS served directly (REGISTRY_TLS_CERT / REGISTRY_TLS_KEY): a throwaway CA and a server
 * certificate for IP 127.0.0.1 are made with openssl, the registry runs in process with token
 * auth, and clients trust the CA explicitly: node:https with `ca`, and skopeo with a cert dir
 * holding ca.crt (no --tls-verify=false anywhere: verification is on and must succeed).
 *
 * The skopeo part is gated like the real-client specs: without skopeo or the test images it
 * registers one test naming why, unless REGISTRY_TEST_REQUIRE_CLIENTS=1 (CI), where it must run.
 */
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { ClientSandbox, realClientSkipReason, run, RunResult } from '../utils/clients';
import { clientsRequired, diffLayouts, ensureTestImages, OciLayout, TestImages } from '../utils/images';
import { MT, parseBearerChallenge, rawRequest, RawResponse, sha256 } from '../utils/oci-client';
import { RunningRegistry, startRegistry, TEST_ADMIN_PASSWORD, TEST_SERVICE } from '../utils/start-registry';
import { makeTempDir, removeDir } from '../utils/temp-dir';
import { ConfigError, loadRegistryConfig } from '../../src/config/load-registry-config';
import { basic } from '../utils/tokens';

jest.setTimeout(60_000);

interface Pki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
}

/** A CA (key + self-signed cert) and a server key + cert it signed, for IP 127.0.0.1 only. */
async function makePki(dir: string): Promise<Pki> {
  const file = (name: string): string => path.join(dir, name);
  const openssl = (args: string[]): Promise<RunResult> => run('openssl', args, { timeoutMs: 60_000 });
  await openssl([
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
    '-keyout', file('ca.key'), '-out', file('ca.crt'),
    '-subj', '/CN=nest-oci-registry test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1']);
  fs.writeFileSync(
    file('server.ext'),
    ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth', 'subjectAltName=IP:127.0.0.1', ''].join('\n'),
  );
  await openssl([
    'x509', '-req', '-sha256', '-days', '2',
    '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-extfile', file('server.ext'), '-out', file('server.crt'),
  ]);
  return { dir, caCert: file('ca.crt'), serverCert: file('server.crt'), serverKey: file('server.key') };
}

/** One request over HTTPS (its own connection), trusting `ca` only when given. */
function httpsRequest(url: string, opts: { ca?: Buffer; method?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: opts.method ?? 'GET', headers: opts.headers, ca: opts.ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('error', reject);
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
    });
    req.once('error', reject);
    req.end();
  });
}

describe('HTTPS (e2e)', () => {
  describe('configuration', () => {
    it.each([
      ['REGISTRY_TLS_CERT', 'REGISTRY_TLS_KEY'],
      ['REGISTRY_TLS_KEY', 'REGISTRY_TLS_CERT'],
    ])('refuses %s without %s, naming the missing variable', (given, missing) => {
      let error: unknown;
      try {
        loadRegistryConfig({ REGISTRY_AUTH: 'none', [given]: '/etc/registry/tls.pem' });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain(`${missing}=undefined: must be set together with ${given}`);
    });

    it('serves plain HTTP when neither is set', () => {
      expect(loadRegistryConfig({ REGISTRY_AUTH: 'none' }).http.tls).toBeUndefined();
    });
  });

  describe('a registry with a certificate signed by a private CA', () => {
    let pki: Pki;
    let ca: Buffer;
    let registry: RunningRegistry;
    let base: string;

    beforeAll(async () => {
      pki = await makePki(makeTempDir('registry-tls-'));
      ca = fs.readFileSync(pki.caCert);
      registry = await startRegistry({ auth: true, env: { REGISTRY_TLS_CERT: pki.serverCert, REGISTRY_TLS_KEY: pki.serverKey } });
      base = `https://127.0.0.1:${registry.port}`; // startRegistry reports http://; the server speaks TLS
    });
    afterAll(async () => {
      await registry?.stop();
      if (pki) removeDir(pki.dir);
    });

    it('answers GET /v2/ over HTTPS (CA trusted) with a 401 challenge whose realm is https://127.0.0.1:PORT/token', async () => {
      const res = await httpsRequest(`${base}/v2/`, { ca });
      expect(res.status).toBe(401);
      const challenge = parseBearerChallenge(String(res.headers['www-authenticate']));
      expect(challenge).toMatchObject({ realm: `${base}/token`, service: TEST_SERVICE });
    });

    it('issues a token at that realm over HTTPS and accepts it on /v2/', async () => {
      const tokenRes = await httpsRequest(`${base}/token?service=${TEST_SERVICE}`, { ca, headers: { authorization: basic('admin', TEST_ADMIN_PASSWORD) } });
      expect(tokenRes.status).toBe(200);
      const { token } = JSON.parse(tokenRes.body.toString()) as { token: string };
      const res = await httpsRequest(`${base}/v2/`, { ca, headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
    });

    it('fails the TLS handshake for a client that does not trust the CA', async () => {
      await expect(httpsRequest(`${base}/v2/`)).rejects.toMatchObject({ code: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_(VERIFY|GET_ISSUER)/) });
    });

    it('does not serve plain HTTP on the TLS port', async () => {
      const attempt = rawRequest(registry.url, { method: 'GET', path: '/v2/' }).then(
        (res) => `answered ${res.status} ${res.headers['docker-distribution-api-version'] ?? ''}`,
        (error: NodeJS.ErrnoException) => `failed ${error.code ?? error.message}`,
      );
      expect(await attempt).toMatch(/^failed /);
    });

    describe('skopeo with --dest-cert-dir / --src-cert-dir', () => {
      const skipReason = realClientSkipReason('skopeo');
      if (skipReason) {
        it(`is not run on this machine: ${skipReason}`, () => expect(clientsRequired()).toBe(false));
        return;
      }

      let sandbox: ClientSandbox | undefined;
      let images: TestImages;
      let certDir: string;

      beforeAll(async () => {
        const dir = await ensureTestImages();
        if (!dir) throw new Error('no test images (see test/utils/images.ts)');
        images = new TestImages(dir);
        sandbox = await ClientSandbox.create('skopeo');
        certDir = sandbox.path('certs');
        fs.mkdirSync(certDir);
        fs.copyFileSync(pki.caCert, path.join(certDir, 'ca.crt'));
      }, 25 * 60_000);
      afterAll(async () => {
        await sandbox?.cleanup();
      }, 60_000);

      const skopeo = (args: string[], allowFailure = false): Promise<RunResult> => sandbox!.skopeo(args, { timeoutMs: 120_000, allowFailure });
      const creds = `admin:${TEST_ADMIN_PASSWORD}`;
      const ref = (tag: string): string => `docker://127.0.0.1:${registry.port}/tls/tiny:${tag}`;

      it('pushes tiny over HTTPS with the CA trusted, and pulls it back byte-identically', async () => {
        const tiny = images.summary('tiny');
        await skopeo(['copy', '--dest-cert-dir', certDir, '--dest-creds', creds, `oci:${images.layout('tiny').dir}:latest`, ref('v1')]);

        const token = JSON.parse(
          (await httpsRequest(`${base}/token?service=${TEST_SERVICE}&scope=repository:tls/tiny:pull`, { ca, headers: { authorization: basic('admin', TEST_ADMIN_PASSWORD) } })).body.toString(),
        ) as { token: string };
        const manifest = await httpsRequest(`${base}/v2/tls/tiny/manifests/v1`, {
          ca,
          headers: { authorization: `Bearer ${token.token}`, accept: [MT.ociManifest, MT.dockerManifest].join(', ') },
        });
        expect(manifest.status).toBe(200);
        expect(manifest.headers['docker-content-digest']).toBe(tiny.digest);
        expect(sha256(manifest.body)).toBe(tiny.digest);

        const out = sandbox!.path('out', 'tiny');
        await skopeo(['copy', '--src-cert-dir', certDir, '--src-creds', creds, ref('v1'), `oci:${out}:latest`]);
        const pulled = new OciLayout(out);
        expect((await pulled.top()).digest).toBe(tiny.digest);
        expect(await diffLayouts(pulled, images.layout('tiny'))).toEqual([]);
      });

      it('refuses the registry to skopeo without the CA (certificate verification stays on)', async () => {
        const result = await skopeo(['inspect', '--creds', creds, ref('v1')], true);
        expect(result.code).not.toBe(0);
        expect(result.stderr).toMatch(/x509|certificate/i);
      });
    });
  });
});
