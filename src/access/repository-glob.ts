/**
 * Repository globs of access policies: `*` matches any run of characters, `/` included
 * (`*` is every repository, `myorg/*` everything under `myorg/`); every other character is
 * literal. Compiled patterns are cached (policies are few and change rarely).
 */
const compiled = new Map<string, RegExp>();

export function globToRegExp(glob: string): RegExp {
  let re = compiled.get(glob);
  if (!re) {
    re = new RegExp(`^${glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(glob, re);
  }
  return re;
}

export function matchesGlob(glob: string, repository: string): boolean {
  return globToRegExp(glob).test(repository);
}

/** Globs use the repository-name alphabet plus `*`. */
export const REPOSITORY_GLOB = /^[a-z0-9*][a-z0-9._\-/*]{0,254}$/;
