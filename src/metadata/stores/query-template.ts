import type { Compilable, CompiledQuery } from 'kysely';
import type { Executor } from './executor';

/** Stands for argument `i` while the template compiles; no real argument starts with NUL. */
const placeholder = (i: number): string => `\u0000arg${i}`;
const slotOf = (parameter: unknown): number => (typeof parameter === 'string' && parameter.startsWith('\u0000arg') ? Number(parameter.slice(4)) : -1);

/**
 * A read that the hot paths (manifest GET and HEAD, blob HEAD, tag lists) run thousands of
 * times a second, compiled once. Kysely builds and compiles a tree of query nodes on every
 * call, which was about 6% of a manifest GET's CPU; a template compiles on its first call,
 * with placeholders for its arguments, and later calls only put their arguments into the
 * compiled parameter list. Only for queries whose SQL does not depend on the values (no `in`
 * lists, no optional clauses), and whose every argument is one bound string parameter: the
 * first compile checks that each placeholder landed in the parameters.
 */
export class QueryTemplate<Args extends string[], Row> {
  private compiled?: { query: CompiledQuery<Row>; slots: number[] };

  constructor(private readonly build: (db: Executor, ...args: Args) => Compilable<Row>) {}

  async execute(db: Executor, ...args: Args): Promise<Row[]> {
    const { query, slots } = (this.compiled ??= this.compile(db, args.length));
    const parameters = query.parameters.map((parameter, i) => (slots[i]! >= 0 ? args[slots[i]!] : parameter));
    return (await db.executeQuery<Row>({ ...query, parameters })).rows;
  }

  async executeTakeFirst(db: Executor, ...args: Args): Promise<Row | undefined> {
    return (await this.execute(db, ...args))[0];
  }

  private compile(db: Executor, count: number): { query: CompiledQuery<Row>; slots: number[] } {
    const args = Array.from({ length: count }, (_, i) => placeholder(i)) as Args;
    const query = this.build(db, ...args).compile();
    const slots = query.parameters.map(slotOf);
    for (let i = 0; i < count; i++) {
      if (!slots.includes(i)) throw new Error(`QueryTemplate: argument ${i} is not a bound parameter of: ${query.sql}`);
    }
    return { query, slots };
  }
}
