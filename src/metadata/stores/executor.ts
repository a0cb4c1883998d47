import type { Kysely } from 'kysely';
import type { Database } from '../schema';

/** A Kysely handle: the database itself or a transaction of it. Stores never know which. */
export type Executor = Kysely<Database>;
