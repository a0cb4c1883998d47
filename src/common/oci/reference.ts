import { OciError } from '../errors/oci-error';
import { isDigestLike } from './digest';

/** A repository name that matches the distribution-spec grammar. */
export type RepositoryName = string & { readonly __brand: 'RepositoryName' };
/** A tag that matches the distribution-spec grammar. */
export type Tag = string & { readonly __brand: 'Tag' };

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_GRAMMAR = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_GRAMMAR = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Clients cap host + "/" + name at 255 characters; the name alone can't be longer. */
export const MAX_NAME_LENGTH = 255;

export function isRepositoryName(value: string): value is RepositoryName {
  return value.length <= MAX_NAME_LENGTH && NAME_GRAMMAR.test(value);
}

export function parseRepositoryName(value: string): RepositoryName {
  if (value.length > MAX_NAME_LENGTH) throw OciError.nameInvalid(`longer than ${MAX_NAME_LENGTH} characters`);
  if (!NAME_GRAMMAR.test(value)) throw OciError.nameInvalid(`"${value.slice(0, 300)}" does not match the OCI name grammar`);
  return value as RepositoryName;
}

export function isTag(value: string): value is Tag {
  return TAG_GRAMMAR.test(value);
}

export function parseTag(value: string): Tag {
  if (!isTag(value)) throw OciError.tagInvalid(value.slice(0, 200));
  return value as Tag;
}

/** A manifest reference: a digest (contains ':') or a tag. */
export type ManifestReference = { kind: 'digest'; value: string } | { kind: 'tag'; value: Tag };

export function parseManifestReference(value: string): ManifestReference {
  if (value.includes(':')) {
    if (!isDigestLike(value)) throw OciError.digestInvalid({ digest: value }, 'invalid digest');
    return { kind: 'digest', value };
  }
  return { kind: 'tag', value: parseTag(value) };
}
