/**
 * A small OCI distribution client for the e2e specs: digests, deterministic content, blob and
 * image pushes over `fetch`, and `rawRequest` (node:http) for what `fetch` cannot do — paths
 * sent exactly as written (`..`, `%2F`), chunked bodies without Content-Length, repeated
 * response headers and aborting a request mid-body.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import type { GcReport } from '../../src/gc/gc.service';
import type { Descriptor as RegistryDescriptor } from '../../src/manifest/manifest-parser';
import type { RegistryStats } from '../../src/stats/stats.service';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociNondistributableLayer: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** The empty JSON blob `{}` of artifact manifests. */
export const EMPTY_JSON = Buffer.from('{}');

// ------------------------------------------------------------------------------------ digests

export type DigestAlgorithm = 'sha256' | 'sha512';

export function digestOf(data: Buffer | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

export function sha256(data: Buffer | string): string {
  return digestOf(data, 'sha256');
}

export function sha512(data: Buffer | string): string {
  return digestOf(data, 'sha512');
}

/** `size` pseudo-random bytes, always the same for the same `seed` (and different across seeds). */
export function deterministicBytes(size: number, seed: string | number = 1): Buffer {
  const out = Buffer.alloc(size);
  let offset = 0;
  for (let block = 0; offset < size; block++) {
    const chunk = createHash('sha512').update(`${seed}:${block}`).digest();
    offset += chunk.copy(out, offset, 0, Math.min(chunk.length, size - offset));
  }
  return out;
}

// ---------------------------------------------------------------------------------- OCI JSON

/** The registry's descriptor, plus the fields tests embed that the registry only passes through. */
export interface Descriptor extends RegistryDescriptor {
  /** Base64 of the content, embedded. */
  data?: string;
  platform?: { architecture: string; os: string };
}

export function descriptorOf(mediaType: string, data: Buffer, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType, digest: sha256(data), size: data.length, ...extra };
}

/** Image manifest bytes (pretty-printed, so any re-serialisation would change them). */
export function imageManifestBytes(config: Descriptor, layers: Descriptor[], extra: Record<string, unknown> = {}, mediaType: string = MT.ociManifest): Buffer {
  return Buffer.from(`${JSON.stringify({ schemaVersion: 2, mediaType, config, layers, ...extra }, null, 3)}\n`);
}

/** Image index bytes (OCI index or Docker manifest list). */
export function indexBytes(manifests: Descriptor[], extra: Record<string, unknown> = {}, mediaType: string = MT.ociIndex): Buffer {
  return Buffer.from(`${JSON.stringify({ schemaVersion: 2, mediaType, manifests, ...extra }, null, 3)}\n`);
}

export interface ErrorEntry {
  code: string;
  message: string;
  detail: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a body is exactly `{"errors":[{code,message,detail}, …]}` and returns the entries. */
export function parseErrorBody(text: string): ErrorEntry[] {
  const json: unknown = JSON.parse(text);
  if (!isObject(json) || !Array.isArray(json['errors']) || json['errors'].length === 0) {
    throw new Error(`not an OCI error body: ${text.slice(0, 300)}`);
  }
  return json['errors'].map((e: unknown) => {
    if (!isObject(e) || typeof e['code'] !== 'string' || !/^[A-Z_]+$/.test(e['code']) || typeof e['message'] !== 'string' || !('detail' in e)) {
      throw new Error(`not an OCI error entry: ${JSON.stringify(e).slice(0, 300)}`);
    }
    return { code: e['code'], message: e['message'], detail: e['detail'] };
  });
}

/** The error codes of a fetch response (asserting a JSON content type and a well-formed body). */
export async function errorCodes(res: Response): Promise<string[]> {
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('application/json')) throw new Error(`error response has Content-Type ${JSON.stringify(type)}`);
  return parseErrorBody(await res.text()).map((e) => e.code);
}

// ------------------------------------------------------------------------------------ raw HTTP

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Every header line as received: [name, value, name, value, …]. */
  rawHeaders: string[];
  body: Buffer;
}

export interface RawRequest {
  method: string;
  /** Sent exactly as given: no normalisation of `..`, no re-encoding. */
  path: string;
  headers?: Record<string, string>;
  /** A Buffer (sent with Content-Length unless a header says otherwise) or chunks (chunked transfer encoding). */
  body?: Buffer | Iterable<Buffer> | AsyncIterable<Buffer>;
}

/** One request over node:http (its own connection), with the whole response read. */
export function rawRequest(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise<RawResponse>((resolve, reject) => {
    const headers: Record<string, string> = { ...req.headers };
    if (Buffer.isBuffer(req.body) && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length' || h.toLowerCase() === 'transfer-encoding')) {
      headers['Content-Length'] = String(req.body.length);
    }
    const request = http.request(
      { host: url.hostname, port: url.port, method: req.method, path: req.path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
      },
    );
    request.on('error', reject);
    const body = req.body;
    if (body === undefined) {
      request.end();
    } else if (Buffer.isBuffer(body)) {
      request.end(body);
    } else {
      void (async () => {
        try {
          for await (const chunk of body) {
            if (!request.write(chunk)) await new Promise((r) => request.once('drain', r));
          }
          request.end();
        } catch (error) {
          request.destroy(error as Error);
        }
      })();
    }
  });
}

/** The path and query of a Location (relative or absolute), as node:http wants it. */
export function pathAndQuery(location: string): string {
  const u = new URL(location, 'http://placeholder');
  return u.pathname + u.search;
}

/** A HEAD over a bare socket: every byte the server wrote, so a body cannot hide. */
export function rawHead(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`HEAD ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

/** The target of a `Link: <…>; rel="next"` header, or undefined when there is none. */
export function nextLink(res: Response): string | undefined {
  const link = res.headers.get('link');
  if (link === null) return undefined;
  const match = /^<([^>]+)>;\s*rel="next"$/.exec(link);
  if (!match) throw new Error(`malformed Link header: ${link}`);
  return match[1];
}

/** Every value of a response header, one per header line (names compared case-insensitively). */
export function headerLines(res: RawResponse, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
    if (res.rawHeaders[i]!.toLowerCase() === name.toLowerCase()) out.push(res.rawHeaders[i + 1]!);
  }
  return out;
}

/**
 * Starts a request that sends `head` bytes of a body declared `declaredLength` long and then
 * cuts the connection: a client dying mid-upload. Resolves once the server has the bytes
 * (`received()` turns true) and the socket is destroyed.
 */
export async function abortMidBody(
  baseUrl: string,
  req: { method: string; path: string; headers?: Record<string, string>; declaredLength: number; head: Buffer },
  received: () => boolean,
): Promise<void> {
  const url = new URL(baseUrl);
  const request = http.request({
    host: url.hostname,
    port: url.port,
    method: req.method,
    path: req.path,
    headers: { ...req.headers, 'Content-Length': String(req.declaredLength) },
    agent: false,
  });
  request.on('error', () => undefined); // the reset we cause
  request.on('response', (res) => res.resume());
  request.write(req.head);
  await waitFor(received, 10_000, 'the server to receive the partial body');
  request.destroy();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ------------------------------------------------------------------------------- the client

export interface PushedImage {
  repo: string;
  tag: string;
  digest: string;
  /** The exact manifest bytes pushed. */
  bytes: Buffer;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageOptions {
  /** Layer contents (default: one small deterministic layer unique to the image). */
  layers?: Buffer[];
  /** Config bytes (default: a small image config unique to the image). */
  config?: Buffer;
  configMediaType?: string;
  manifestMediaType?: string;
  layerMediaType?: string;
  artifactType?: string;
  subject?: Descriptor;
  annotations?: Record<string, string>;
  /** PUT the manifest by its digest instead of by `tag` (which then only seeds the default content). */
  untagged?: boolean;
}

/** User name and password (or access token) a client logs in with. */
export interface Credentials {
  user: string;
  password: string;
}

/** The parameters of a `WWW-Authenticate: Bearer …` challenge, or undefined when it is not one. */
export function parseBearerChallenge(header: string | null): Record<string, string> | undefined {
  if (!header || !/^Bearer\s/i.test(header)) return undefined;
  const params: Record<string, string> = {};
  for (const m of header.matchAll(/([a-z_]+)="([^"]*)"/gi)) params[m[1]!.toLowerCase()] = m[2]!;
  return params;
}

/**
 * An OCI distribution client bound to one registry base URL (`http://host:port`). With
 * credentials it behaves like docker's token handler: on a 401 Bearer challenge it fetches a
 * token for the challenge's scope from the realm (Basic credentials), caches it per scope and
 * retries once; without credentials it fetches anonymous tokens the same way.
 */
export class OciClient {
  private readonly tokens = new Map<string, string>();
  private lastScope = '';
  /** Token fetches made so far (tests assert on caching). */
  tokenFetches = 0;

  constructor(
    readonly baseUrl: string,
    readonly credentials?: Credentials,
  ) {}

  /** Absolute URL of a path or of a Location header (relative or absolute). */
  url(pathOrLocation: string): string {
    return new URL(pathOrLocation, this.baseUrl).toString();
  }

  async fetch(pathOrLocation: string, init: RequestInit = {}): Promise<Response> {
    const url = this.url(pathOrLocation);
    const send = (token: string | undefined): Promise<Response> => {
      const headers = new Headers(init.headers);
      if (token !== undefined && !headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
      return fetch(url, { ...init, headers });
    };
    const res = await send(this.tokens.get(this.lastScope));
    const challenge = res.status === 401 ? parseBearerChallenge(res.headers.get('www-authenticate')) : undefined;
    const replayable = init.body === undefined || init.body === null || typeof init.body === 'string' || init.body instanceof Uint8Array;
    if (!challenge || !replayable || new Headers(init.headers).has('authorization')) return res;
    await res.arrayBuffer();
    const scope = challenge['scope'] ?? '';
    const token = await this.fetchToken(challenge['realm']!, challenge['service'], scope);
    this.lastScope = scope;
    return send(token);
  }

  /** GET <realm>?service=&scope= with Basic credentials (or none); caches the token per scope. */
  async fetchToken(realm: string, service: string | undefined, scope: string): Promise<string> {
    const u = new URL(realm);
    if (service) u.searchParams.set('service', service);
    for (const s of scope.split(' ').filter(Boolean)) u.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (this.credentials) headers['authorization'] = `Basic ${Buffer.from(`${this.credentials.user}:${this.credentials.password}`).toString('base64')}`;
    const res = await fetch(u, { headers });
    if (res.status !== 200) throw new Error(`token for "${scope}": ${res.status} ${await res.text()}`);
    const token = ((await res.json()) as { token: string }).token;
    this.tokenFetches++;
    this.tokens.set(scope, token);
    return token;
  }

  /** `location` with `params` added to its query (Location headers may carry their own query). */
  withQuery(location: string, params: Record<string, string>): string {
    const u = new URL(location, this.baseUrl);
    for (const [k, v] of Object.entries(params)) u.searchParams.append(k, v);
    return u.toString();
  }

  /** POST …/blobs/uploads/ (202) and returns the session Location. */
  async startUpload(repo: string): Promise<string> {
    const res = await this.fetch(`/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    if (res.status !== 202) throw new Error(`POST upload in ${repo}: ${res.status} ${await res.text()}`);
    const location = res.headers.get('location');
    if (!location) throw new Error('POST upload: no Location');
    return location;
  }

  /** Pushes a blob monolithically (POST ?digest= with the body); returns its digest. */
  async pushBlob(repo: string, data: Buffer, algorithm: DigestAlgorithm = 'sha256'): Promise<string> {
    const digest = digestOf(data, algorithm);
    const res = await this.fetch(`/v2/${repo}/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: data,
    });
    if (res.status !== 201) throw new Error(`push blob ${digest} to ${repo}: ${res.status} ${await res.text()}`);
    return digest;
  }

  async putManifest(repo: string, reference: string, body: Buffer | string, mediaType?: string, query = ''): Promise<Response> {
    return this.fetch(`/v2/${repo}/manifests/${reference}${query}`, {
      method: 'PUT',
      headers: mediaType === undefined ? {} : { 'Content-Type': mediaType },
      body: typeof body === 'string' ? Buffer.from(body) : body,
    });
  }

  /** Pushes config and layers, then an image manifest by tag (201); returns what was pushed. */
  async pushImage(repo: string, tag: string, options: ImageOptions = {}): Promise<PushedImage> {
    const unique = `${repo}:${tag}:${Math.random()}`;
    const config = options.config ?? Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, id: unique }));
    const layers = options.layers ?? [deterministicBytes(256, unique)];
    const configDescriptor = descriptorOf(options.configMediaType ?? MT.ociConfig, config);
    await this.pushBlob(repo, config);
    const layerDescriptors: Descriptor[] = [];
    for (const layer of layers) {
      await this.pushBlob(repo, layer);
      layerDescriptors.push(descriptorOf(options.layerMediaType ?? MT.ociLayer, layer));
    }
    const mediaType = options.manifestMediaType ?? MT.ociManifest;
    const manifest: Record<string, unknown> = { schemaVersion: 2, mediaType };
    if (options.artifactType) manifest['artifactType'] = options.artifactType;
    manifest['config'] = configDescriptor;
    manifest['layers'] = layerDescriptors;
    if (options.subject) manifest['subject'] = options.subject;
    if (options.annotations) manifest['annotations'] = options.annotations;
    const bytes = Buffer.from(JSON.stringify(manifest, null, 2));
    const res = await this.putManifest(repo, options.untagged ? sha256(bytes) : tag, bytes, mediaType);
    if (res.status !== 201) throw new Error(`push manifest ${repo}:${tag}: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
    return { repo, tag, digest: sha256(bytes), bytes, mediaType, config: configDescriptor, layers: layerDescriptors };
  }

  /** Fetches `first` and every page its `Link: rel="next"` headers lead to (each must be 200). */
  async allPages<T>(first: string): Promise<T[]> {
    const pages: T[] = [];
    let next: string | undefined = first;
    while (next !== undefined) {
      if (pages.length > 50) throw new Error('more than 50 pages: a Link loop?');
      const res = await this.fetch(next);
      if (res.status !== 200) throw new Error(`GET ${next}: ${res.status}`);
      pages.push((await res.json()) as T);
      next = nextLink(res);
    }
    return pages;
  }

  async getBlob(repo: string, digest: string): Promise<Buffer> {
    const res = await this.fetch(`/v2/${repo}/blobs/${digest}`);
    if (res.status !== 200) throw new Error(`GET blob ${digest} from ${repo}: ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }

  /** GET a blob that must exist and hash to its digest (and have `size` bytes, when given). */
  async getVerifiedBlob(repo: string, digest: string, size?: number): Promise<Buffer> {
    const bytes = await this.getBlob(repo, digest);
    const algorithm = digest.split(':')[0] as DigestAlgorithm;
    if (digestOf(bytes, algorithm) !== digest) throw new Error(`blob ${digest} of ${repo} is served with other bytes (${digestOf(bytes, algorithm)})`);
    if (size !== undefined && bytes.length !== size) throw new Error(`blob ${digest} of ${repo}: ${bytes.length} bytes, descriptor says ${size}`);
    return bytes;
  }

  /**
   * Pulls `reference` as a client would and verifies it: the manifest (its digest header and
   * bytes; the exact bytes when `expected` is given), then, recursively for an index, every
   * blob it references, each sha256-verified. Answers the verified blob digests.
   */
  async pullVerified(repo: string, reference: string, expected?: Buffer): Promise<string[]> {
    const res = await this.fetch(`/v2/${repo}/manifests/${reference}`, {
      headers: { Accept: [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerManifestList].join(', ') },
    });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) throw new Error(`pull ${repo}@${reference}: ${res.status} ${body.toString().slice(0, 300)}`);
    const digest = sha256(body);
    if (res.headers.get('docker-content-digest') !== digest) throw new Error(`pull ${repo}@${reference}: Docker-Content-Digest does not match the body`);
    if (expected !== undefined && !body.equals(expected)) throw new Error(`pull ${repo}@${reference}: the manifest bytes differ from those pushed`);
    const json = JSON.parse(body.toString('utf8')) as { config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] };
    const verified: string[] = [];
    for (const child of json.manifests ?? []) verified.push(...(await this.pullVerified(repo, child.digest)));
    for (const blob of [...(json.config ? [json.config] : []), ...(json.layers ?? [])]) {
      await this.getVerifiedBlob(repo, blob.digest, blob.size);
      verified.push(blob.digest);
    }
    return verified;
  }

  /** DELETE a manifest by tag or digest; answers the status. */
  async deleteManifest(repo: string, reference: string): Promise<number> {
    const res = await this.fetch(`/v2/${repo}/manifests/${reference}`, { method: 'DELETE' });
    await res.arrayBuffer();
    return res.status;
  }

  /** POST /_gc[?dryRun=true]: the status and, on 200, the report. */
  async tryGc(options: { dryRun?: boolean } = {}): Promise<{ status: number; report?: GcReport }> {
    const res = await this.fetch(`/_gc${options.dryRun ? '?dryRun=true' : ''}`, { method: 'POST' });
    if (res.status !== 200) {
      await res.arrayBuffer();
      return { status: res.status };
    }
    return { status: 200, report: (await res.json()) as GcReport };
  }

  /** A GC pass that must succeed (200); its report. */
  async gc(options: { dryRun?: boolean } = {}): Promise<GcReport> {
    const { status, report } = await this.tryGc(options);
    if (status !== 200 || report === undefined) throw new Error(`POST /_gc: ${status}`);
    return report;
  }

  async stats(): Promise<RegistryStats> {
    const res = await this.fetch('/_stats');
    if (res.status !== 200) throw new Error(`GET /_stats: ${res.status}`);
    return (await res.json()) as RegistryStats;
  }
}

// ------------------------------------------------------------------------------------ on disk

/** Every regular file under `dir`, as paths relative to it ('/'-separated); none when it is absent. */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.push(path.relative(dir, full).split(path.sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

/** Where the filesystem driver keeps a blob under a data dir. */
export function blobFile(dataDir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return path.join(dataDir, 'storage', 'blobs', algorithm, hex.slice(0, 2), hex);
}

/** The staging file of an upload session (by the id at the end of its Location). */
export function uploadDataFile(dataDir: string, location: string): string {
  const id = new URL(location, 'http://x').pathname.split('/').pop()!;
  return path.join(dataDir, 'storage', 'uploads', id, 'data');
}

export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return -1;
  }
}
