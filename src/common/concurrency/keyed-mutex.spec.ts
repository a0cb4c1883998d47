import { KeyedMutex } from './keyed-mutex';

/** A promise with its resolver, to hold work open until the test lets it finish. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Lets every pending promise callback run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe(KeyedMutex.name, () => {
  let mutex: KeyedMutex;
  beforeEach(() => {
    mutex = new KeyedMutex();
  });

  it('runs work of the same key one at a time, in call order', async () => {
    const events: string[] = [];
    const gates = [gate(), gate(), gate()];
    const runs = gates.map((g, i) =>
      mutex.run('k', async () => {
        events.push(`start ${i}`);
        await g.promise;
        events.push(`end ${i}`);
        return i;
      }),
    );
    await settle();
    expect(events).toEqual(['start 0']);
    gates[2]!.open(); // finishing out of order changes nothing: 2 has not started
    gates[1]!.open();
    await settle();
    expect(events).toEqual(['start 0']);
    gates[0]!.open();
    expect(await Promise.all(runs)).toEqual([0, 1, 2]);
    expect(events).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('runs work of different keys in parallel', async () => {
    const a = gate();
    const b = gate();
    const started: string[] = [];
    const runA = mutex.run('a', async () => {
      started.push('a');
      await a.promise;
    });
    const runB = mutex.run('b', async () => {
      started.push('b');
      await b.promise;
    });
    await settle();
    expect(started).toEqual(['a', 'b']);
    b.open();
    await runB; // b finishes while a is still held
    expect(mutex.isLocked('a')).toBe(true);
    expect(mutex.isLocked('b')).toBe(false);
    a.open();
    await runA;
  });

  it('releases the key when the work throws, and passes the error on', async () => {
    const failure = new Error('boom');
    await expect(mutex.run('k', () => Promise.reject(failure))).rejects.toBe(failure);
    expect(mutex.isLocked('k')).toBe(false);
    await expect(mutex.run('k', () => Promise.resolve('next'))).resolves.toBe('next');
  });

  it('lets the next waiter in when the work in front of it throws', async () => {
    const first = gate();
    const failing = mutex.run('k', async () => {
      await first.promise;
      throw new Error('first failed');
    });
    const second = mutex.run('k', () => Promise.resolve('second'));
    first.open();
    await expect(failing).rejects.toThrow('first failed');
    await expect(second).resolves.toBe('second');
  });

  it('tryAcquire takes a free key at once and answers undefined while it is busy', async () => {
    const release = mutex.tryAcquire('k');
    expect(release).toBeInstanceOf(Function);
    expect(mutex.isLocked('k')).toBe(true);
    expect(mutex.tryAcquire('k')).toBeUndefined();
    expect(mutex.tryAcquire('other')).toBeInstanceOf(Function);

    const held = gate();
    const run = mutex.run('busy', () => held.promise);
    expect(mutex.tryAcquire('busy')).toBeUndefined();
    held.open();
    await run;
    expect(mutex.tryAcquire('busy')).toBeInstanceOf(Function);
    release!();
  });

  it('makes run wait until a tryAcquire lock is released', async () => {
    const release = mutex.tryAcquire('k')!;
    let ran = false;
    const run = mutex.run('k', () => {
      ran = true;
      return Promise.resolve();
    });
    await settle();
    expect(ran).toBe(false);
    release();
    await run;
    expect(ran).toBe(true);
    expect(mutex.isLocked('k')).toBe(false);
  });

  it('frees the key on release, and a second release does not free a later holder', () => {
    const first = mutex.tryAcquire('k')!;
    first();
    expect(mutex.isLocked('k')).toBe(false);
    const second = mutex.tryAcquire('k')!;
    first(); // stale: must not take the key from the second holder
    expect(mutex.isLocked('k')).toBe(true);
    expect(mutex.tryAcquire('k')).toBeUndefined();
    second();
    expect(mutex.isLocked('k')).toBe(false);
  });

  it('keeps no entry for a key once nothing holds or waits for it', async () => {
    const keys = Array.from({ length: 50 }, (_, i) => `key-${i}`);
    await Promise.all(keys.flatMap((k) => [mutex.run(k, () => settle()), mutex.run(k, () => Promise.resolve())]));
    for (const k of keys) mutex.tryAcquire(k)!();
    expect(keys.filter((k) => mutex.isLocked(k))).toEqual([]);
    expect((mutex as unknown as { tails: Map<string, unknown> }).tails.size).toBe(0);
  });
});
