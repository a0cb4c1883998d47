import { isDigestLike } from '../common/oci/digest';
import { bareMediaType, isImageManifestMediaType, isIndexMediaType, isMediaType, MediaTypes } from '../common/oci/media-types';
import { OciError } from '../common/errors/oci-error';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
}

/** What the registry needs to know about a manifest, parsed from its exact bytes. */
export interface ParsedManifest {
  mediaType: string;
  /** `artifactType`, else (image manifests) the config media type; what referrers report. */
  artifactType: string | null;
  subject: Descriptor | null;
  annotations: Record<string, string> | null;
  /** Blobs that must be present in the repository (config, layers, blobs). */
  requiredBlobs: string[];
  /** Blobs referenced but not required to be present (non-distributable layers with URLs). */
  foreignBlobs: string[];
  /** Child manifests (index entries) that must be present in the repository. */
  childManifests: string[];
}

/** Content-Types that say nothing about the manifest: the body's own fields decide. */
const GENERIC_TYPES = new Set(['application/json', 'application/octet-stream', 'application/x-www-form-urlencoded', 'text/plain']);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseAnnotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw OciError.manifestInvalid(`${where}.annotations must be a map of strings`);
  }
  return value as Record<string, string>;
}

export function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw OciError.manifestInvalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size, artifactType, urls } = value;
  if (!isMediaType(mediaType)) throw OciError.manifestInvalid(`${where}.mediaType is missing or malformed`);
  if (typeof digest !== 'string' || !isDigestLike(digest)) throw OciError.manifestInvalid(`${where}.digest is missing or malformed`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw OciError.manifestInvalid(`${where}.size must be a non-negative integer`);
  if (artifactType !== undefined && !isMediaType(artifactType)) throw OciError.manifestInvalid(`${where}.artifactType is malformed`);
  if (urls !== undefined && (!Array.isArray(urls) || urls.some((u) => typeof u !== 'string'))) {
    throw OciError.manifestInvalid(`${where}.urls must be an array of strings`);
  }
  const descriptor: Descriptor = { mediaType, digest, size };
  if (artifactType !== undefined) descriptor.artifactType = artifactType;
  const annotations = parseAnnotations(value['annotations'], where);
  if (annotations) descriptor.annotations = annotations;
  if (urls) descriptor.urls = urls as string[];
  return descriptor;
}

function descriptorList(value: unknown, where: string, required: boolean): Descriptor[] {
  if (value === undefined && !required) return [];
  if (!Array.isArray(value)) throw OciError.manifestInvalid(`${where} must be an array`);
  return value.map((d, i) => parseDescriptor(d, `${where}[${i}]`));
}

/** A layer a registry need not hold: non-distributable (foreign) content with external URLs. */
function isForeign(d: Descriptor): boolean {
  return (d.urls?.length ?? 0) > 0 && /nondistributable|foreign/.test(d.mediaType);
}

/**
 * Parses and validates a manifest from the exact bytes received. `contentType` is the
 * request's Content-Type: when both it and the body's `mediaType` are specific they must
 * agree. Any well-formed media type is accepted (artifacts are not an allowlist); image
 * manifests and indexes (OCI and Docker) get their structure checked. Docker schema 1 is
 * refused: no current client pushes it and it cannot be verified.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw OciError.manifestInvalid('body is not valid JSON');
  }
  if (!isObject(json)) throw OciError.manifestInvalid('body must be a JSON object');

  const header = bareMediaType(contentType);
  const specificHeader = header !== undefined && !GENERIC_TYPES.has(header.toLowerCase()) ? header : undefined;
  const field = json['mediaType'];
  if (field !== undefined && !isMediaType(field)) throw OciError.manifestInvalid('mediaType is malformed');
  if (specificHeader !== undefined && !isMediaType(specificHeader)) throw OciError.manifestInvalid('Content-Type is malformed');
  if (specificHeader !== undefined && field !== undefined && specificHeader !== field) {
    throw OciError.manifestInvalid(`Content-Type ${specificHeader} does not match mediaType ${field}`);
  }
  const mediaType = (field as string | undefined) ?? specificHeader ?? (Array.isArray(json['manifests']) ? MediaTypes.ociIndex : MediaTypes.ociManifest);

  if (mediaType === MediaTypes.dockerSchema1 || mediaType === MediaTypes.dockerSchema1Signed) {
    throw OciError.manifestInvalid('Docker schema 1 manifests are not supported');
  }
  const known = isImageManifestMediaType(mediaType) || isIndexMediaType(mediaType);
  if (known && json['schemaVersion'] !== 2) throw OciError.manifestInvalid('schemaVersion must be 2');

  const artifactTypeField = json['artifactType'];
  if (artifactTypeField !== undefined && !isMediaType(artifactTypeField)) throw OciError.manifestInvalid('artifactType is malformed');
  const subject = json['subject'] === undefined ? null : parseDescriptor(json['subject'], 'subject');
  const annotations = parseAnnotations(json['annotations'], 'manifest') ?? null;

  let config: Descriptor | undefined;
  let layers: Descriptor[] = [];
  let blobs: Descriptor[] = [];
  let children: Descriptor[] = [];
  if (isImageManifestMediaType(mediaType)) {
    config = parseDescriptor(json['config'], 'config');
    layers = descriptorList(json['layers'], 'layers', true);
  } else if (isIndexMediaType(mediaType)) {
    children = descriptorList(json['manifests'], 'manifests', true);
  } else {
    // An artifact or unknown type: check whatever descriptors it carries.
    if (json['config'] !== undefined) config = parseDescriptor(json['config'], 'config');
    layers = descriptorList(json['layers'], 'layers', false);
    blobs = descriptorList(json['blobs'], 'blobs', false);
    children = descriptorList(json['manifests'], 'manifests', false);
  }
  const all = [...(config ? [config] : []), ...layers, ...blobs];
  const unique = (ds: Descriptor[]): string[] => [...new Set(ds.map((d) => d.digest))];
  return {
    mediaType,
    artifactType: (artifactTypeField as string | undefined) ?? (isIndexMediaType(mediaType) ? null : (config?.mediaType ?? null)),
    subject,
    annotations,
    requiredBlobs: unique(all.filter((d) => !isForeign(d))),
    foreignBlobs: unique(all.filter(isForeign)),
    childManifests: unique(children),
  };
}
