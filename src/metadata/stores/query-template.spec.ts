import type { Kysely } from 'kysely';
import { openDatabase } from '../database';
import type { Database } from '../schema';
import { QueryTemplate } from './query-template';

let db: Kysely<Database>;

beforeEach(async () => {
  db = await openDatabase({ dialect: 'sqlite', filename: ':memory:' });
  await db
    .insertInto('repositories')
    .values([
      { name: 'a', created_at: 1 },
      { name: 'b', created_at: 2 },
      { name: 'c', created_at: 3 },
    ])
    .execute();
});

afterEach(async () => {
  await db.destroy();
});

describe(QueryTemplate.name, () => {
  it('compiles once and answers each call with its own arguments', async () => {
    const build = jest.fn((executor: Kysely<Database>, name: string) => executor.selectFrom('repositories').select(['name', 'created_at']).where('name', '=', name));
    const template = new QueryTemplate(build);
    expect(await template.executeTakeFirst(db, 'b')).toEqual({ name: 'b', created_at: 2 });
    expect(await template.executeTakeFirst(db, 'c')).toEqual({ name: 'c', created_at: 3 });
    expect(await template.executeTakeFirst(db, 'zz')).toBeUndefined();
    expect(build).toHaveBeenCalledTimes(1);
  });

  it('puts each argument where the query uses it, whatever the order, next to constant parameters', async () => {
    const template = new QueryTemplate((executor, high: string, low: string) =>
      executor.selectFrom('repositories').select('name').where('created_at', '>', 0).where('name', '>', low).where('name', '<', high).orderBy('name'),
    );
    expect(await template.execute(db, 'c', 'a')).toEqual([{ name: 'b' }]);
    expect(await template.execute(db, 'd', 'a')).toEqual([{ name: 'b' }, { name: 'c' }]);
  });

  it('runs inside a transaction on its connection, seeing its uncommitted rows', async () => {
    const template = new QueryTemplate((executor, name: string) => executor.selectFrom('repositories').select('name').where('name', '=', name));
    await template.execute(db, 'a'); // compiled outside the transaction
    await db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('repositories').values({ name: 'd', created_at: 4 }).execute();
        expect(await template.executeTakeFirst(trx, 'd')).toEqual({ name: 'd' });
        throw new Error('roll back');
      })
      .catch(() => undefined);
    expect(await template.executeTakeFirst(db, 'd')).toBeUndefined();
  });

  it('refuses a query that does not bind every argument as a parameter', async () => {
    const template = new QueryTemplate((executor, name: string, unused: string) => {
      void unused;
      return executor.selectFrom('repositories').select('name').where('name', '=', name);
    });
    await expect(template.execute(db, 'a', 'b')).rejects.toThrow('argument 1 is not a bound parameter');
  });
});
