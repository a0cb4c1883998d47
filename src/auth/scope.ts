/**
 * Docker token-auth scopes (distribution `docs/spec/auth/scope.md`):
 * `type[(class)]:name:action[,action…]`, several separated by spaces. The name may hold a
 * `host:port/` prefix, so the type ends at the first colon and the actions start after the
 * last one. A resource class such as `repository(plugin)` is deprecated and ignored.
 */
export interface ResourceScope {
  type: string;
  name: string;
  actions: string[];
}

const TYPE = /^([a-z0-9]+)(?:\([a-z0-9]+\))?$/;
const ACTION = /^[a-z*]*$/;

/** One resource scope, or undefined when it is malformed (malformed scopes are ignored, not errors). */
export function parseResourceScope(scope: string): ResourceScope | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const type = TYPE.exec(scope.slice(0, first))?.[1];
  const name = scope.slice(first + 1, last);
  const actions = scope.slice(last + 1).split(',').filter((a) => a !== '');
  if (!type || name === '' || !actions.every((a) => ACTION.test(a))) return undefined;
  return { type, name, actions: [...new Set(actions)] };
}

/** Every resource scope in `values` (each may hold several, space-separated), same resources merged. */
export function parseScopes(values: readonly string[]): ResourceScope[] {
  const merged = new Map<string, ResourceScope>();
  for (const value of values) {
    for (const part of value.split(' ')) {
      if (part === '') continue;
      const scope = parseResourceScope(part);
      if (!scope) continue;
      const key = `${scope.type}:${scope.name}`;
      const seen = merged.get(key);
      if (seen) seen.actions = [...new Set([...seen.actions, ...scope.actions])];
      else merged.set(key, scope);
    }
  }
  return [...merged.values()];
}

export function formatScope(scope: ResourceScope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(',')}`;
}
