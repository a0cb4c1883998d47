/**
 * What never reaches a log line: credentials in headers and secret fields, whoever logs them.
 * Two layers, because pino offers two hooks that see different things:
 *
 * 1. `REDACT_PATHS` (pino `redact`): fixed paths, applied while pino serializes, so they also
 *    cover what serializers produce (`log.info({ req })` → `req.headers.authorization`) and
 *    censor any value there, `Set-Cookie`'s array included. Fixed paths cost next to nothing.
 * 2. `censorSecretsInLine` (pino `hooks.streamWrite`): the finished JSON line, where any key
 *    named like a secret, at any depth, has its string, string-array or scalar value censored:
 *    the net for an object logged carelessly (`log.info({ user })`, `{ body }`, an error's own
 *    fields). pino's wildcard paths (`*.password`) would do this too, but cost about 3 µs per
 *    path per line; the request line is on every request's path, and this costs ~1 µs in all.
 *
 * Free text (a message string) is not parsed: code must not put secrets into messages.
 */

export const LOG_CENSOR = '[Redacted]';

/** Field names whose values are secrets, wherever they appear (matched case-insensitively). */
export const SECRET_FIELDS = ['password', 'token', 'access_token', 'refresh_token', 'secret', 'client_secret'] as const;

/** Header names (lower case, as Node gives them) whose values are credentials. */
export const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie'] as const;

/** Where headers show up in log objects: a serialized req/res (pino's std serializers), or a bare `headers`. */
const HEADER_HOLDERS = ['req.headers', 'res.headers', 'headers'];
/** Where request fields show up: top level, or a logged body, query or user. */
const FIELD_HOLDERS = ['', 'body.', 'query.', 'user.'];

const capitalized = (header: string): string => header.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());

/** pino `redact.paths`: each secret header under each header holder (both casings), each secret field at each field holder. */
export const REDACT_PATHS: readonly string[] = [
  ...HEADER_HOLDERS.flatMap((holder) => SECRET_HEADERS.flatMap((h) => [`${holder}["${h}"]`, `${holder}["${capitalized(h)}"]`])),
  ...FIELD_HOLDERS.flatMap((holder) => SECRET_FIELDS.map((field) => `${holder}${field}`)),
];

/**
 * `"<secret key>": <value>` in serialized JSON, the value a string, an array of strings or a
 * scalar (objects and arrays of objects are left alone: their own keys are checked). Linear:
 * every alternative starts on a distinct character, and pino only writes valid JSON.
 */
const SECRET_VALUE = new RegExp(`"(${[...SECRET_FIELDS, ...SECRET_HEADERS].join('|')})":("(?:[^"\\\\]|\\\\.)*"|\\[(?:"(?:[^"\\\\]|\\\\.)*",?)*\\]|[^,}\\]{\\["]+)`, 'gi');

/** pino `hooks.streamWrite`: the serialized line with every secret-named key's value censored. */
export function censorSecretsInLine(line: string): string {
  return line.replace(SECRET_VALUE, `"$1":"${LOG_CENSOR}"`);
}
