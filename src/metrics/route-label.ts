import { parseV2Path, V2_ROUTES, type V2Kind, type V2Path } from '../common/oci/v2-path';

/**
 * The `route` label of the HTTP metrics: a route template, never the raw URL, so its
 * cardinality is bounded by the number of routes (a repository name or a digest in a label
 * would make one series per image).
 *
 * - `/v2/<name>/…` repository routes: the template of their parsed V2 kind
 *   (`/v2/{name}/blobs/{digest}`…). Express matched them with wildcard templates that only
 *   pick the controller method; the parse of `v2-path.ts` is what decides the kind.
 * - any other route Express matched: its template, in the same `{param}` notation;
 * - nothing matched (a 404 from the router): `unmatched`.
 */
export const UNMATCHED_ROUTE = 'unmatched';

/** Express 5 template → label: optional groups `{…}` kept as their content, `:p` and `*p` as `{p}`. */
export function templateLabel(template: string): string {
  return template.replace(/\{([^{}]*)\}/g, '$1').replace(/[:*]([A-Za-z_$][\w$]*)/g, '{$1}');
}

const V2_KINDS: readonly V2Kind[] = ['manifest', 'blob', 'uploadStart', 'upload', 'tags', 'referrers'];

/** The label of each V2 kind, derived from its route template (one source of truth). */
export const V2_ROUTE_LABELS: Readonly<Record<V2Kind, string>> = Object.freeze(
  Object.fromEntries(V2_KINDS.map((kind) => [kind, templateLabel(V2_ROUTES[kind])])) as Record<V2Kind, string>,
);

/**
 * A route that matches any path: Nest mounts middleware registered for every route as one
 * (`all('/{*path}')`), so after a 404 `req.route` is that middleware's route, not a handler's.
 */
const CATCH_ALL = /^\/?(\{\/?\*[\w$]+\}|\*[\w$]+)$/;

/** What routeLabel reads from an Express request (parsed `v2` first, then the path, then the matched route). */
export interface LabelledRequest {
  originalUrl: string;
  v2?: V2Path;
  route?: { path?: unknown };
}

/** The path of a request URL, without its query (the raw, still percent-encoded form `parseV2Path` expects). */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** The V2 kind of a path, or undefined (not a repository route, or a path that fails the name grammar). */
export function v2KindOf(path: string): V2Kind | undefined {
  if (!path.startsWith('/v2/')) return undefined;
  try {
    return parseV2Path(path)?.kind;
  } catch {
    return undefined; // an invalid name or upload id: the matched route (if any) labels it below
  }
}

export function routeLabel(req: LabelledRequest): string {
  const kind = req.v2?.kind ?? v2KindOf(pathOf(req.originalUrl));
  if (kind) return V2_ROUTE_LABELS[kind];
  const template = req.route?.path;
  if (typeof template === 'string' && !CATCH_ALL.test(template)) return templateLabel(template);
  return UNMATCHED_ROUTE;
}
