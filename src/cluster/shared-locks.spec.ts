import { ClusterLocks, createSharedLocks, LocalLocks, LockServer, type LockReply, type LockRequest } from './shared-locks';

/** A promise with its resolver, to hold work open until the test lets it finish. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Lets messages in flight arrive: each hop of the fake IPC takes one setImmediate. */
async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * One LockServer (the primary) and ClusterLocks clients (the workers) joined by fake channels
 * that deliver asynchronously (one setImmediate per hop) and copy every message
 * (structuredClone), as IPC does. A killed worker's channel is cut both ways and the server
 * forgets it, as ClusterPrimary does on a worker's exit.
 */
class FakeCluster {
  readonly server = new LockServer((workerId, reply) => this.deliverToWorker(workerId, reply));
  /** Every request a worker sent, in order (delivered or not). */
  readonly requests: { workerId: number; request: LockRequest }[] = [];
  private readonly listeners = new Map<number, (message: unknown) => void>();
  private readonly dead = new Set<number>();

  worker(workerId: number): ClusterLocks {
    return new ClusterLocks({
      send: (request) => {
        this.requests.push({ workerId, request: structuredClone(request) });
        const copy = structuredClone(request);
        setImmediate(() => {
          if (!this.dead.has(workerId)) this.server.handle(workerId, copy);
        });
      },
      on: (_event, listener) => {
        this.listeners.set(workerId, listener);
      },
    });
  }

  /** A message to a worker as the primary would send it (any kind: metrics share the channel). */
  deliverToWorker(workerId: number, message: LockReply | Record<string, unknown>): void {
    const copy = structuredClone(message);
    setImmediate(() => {
      if (!this.dead.has(workerId)) this.listeners.get(workerId)?.(copy);
    });
  }

  /** The worker process died: nothing reaches it or comes from it any more; the primary forgets it. */
  kill(workerId: number): void {
    this.dead.add(workerId);
    this.server.forget(workerId);
  }

  releasesSentBy(workerId: number, key: string): LockRequest[] {
    return this.requests.filter((r) => r.workerId === workerId && r.request.op === 'release' && r.request.key === key).map((r) => r.request);
  }
}

/** Tracks a promise's state without awaiting it. */
function track<T>(promise: Promise<T>): { settled: () => boolean; value: () => T | undefined } {
  let settled = false;
  let value: T | undefined;
  promise.then(
    (v) => {
      settled = true;
      value = v;
    },
    () => {
      settled = true;
    },
  );
  return { settled: () => settled, value: () => value };
}

describe('ClusterLocks with a LockServer (two workers over fake IPC)', () => {
  let cluster: FakeCluster;
  let a: ClusterLocks;
  let b: ClusterLocks;

  beforeEach(() => {
    cluster = new FakeCluster();
    a = cluster.worker(1);
    b = cluster.worker(2);
  });

  it('gives a key to one worker at a time: the other worker runs only after the first released it', async () => {
    const events: string[] = [];
    const gateA = gate();
    const runA = a.run('k', async () => {
      events.push('A start');
      await gateA.promise;
      events.push('A end');
      return 'a';
    });
    const runB = b.run('k', async () => {
      events.push('B start');
      return 'b';
    });
    await settle();
    expect(events).toEqual(['A start']);
    expect(await b.isLocked('k')).toBe(true);
    expect(cluster.server.size).toBe(1);

    gateA.open();
    expect(await Promise.all([runA, runB])).toEqual(['a', 'b']);
    expect(events).toEqual(['A start', 'A end', 'B start']);
    await settle();
    expect(cluster.server.size).toBe(0);
    expect(await a.isLocked('k')).toBe(false);
  });

  it('never lets two holders of one key overlap when both workers hammer it', async () => {
    let inside = 0;
    let maxInside = 0;
    let completed = 0;
    const work = async (): Promise<void> => {
      inside++;
      maxInside = Math.max(maxInside, inside);
      await settle(1 + (completed % 3));
      inside--;
      completed++;
    };
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).run('hot', work)));
    expect(completed).toBe(40);
    expect(maxInside).toBe(1);
    await settle();
    expect(cluster.server.size).toBe(0);
  });

  it('hands a key over to its waiters in the order their requests arrived, across workers', async () => {
    const held = await a.tryAcquire('k');
    expect(held).toBeDefined();
    const order: string[] = [];
    const runs = [
      b.run('k', async () => void order.push('b1')),
      a.run('k', async () => void order.push('a2')),
      b.run('k', async () => void order.push('b3')),
      a.run('k', async () => void order.push('a4')),
    ];
    await settle();
    expect(order).toEqual([]);
    held!();
    await Promise.all(runs);
    expect(order).toEqual(['b1', 'a2', 'b3', 'a4']);
    await settle();
    expect(cluster.server.size).toBe(0);
  });

  it('keeps different keys independent', async () => {
    const holdK1 = await a.tryAcquire('k1');
    expect(holdK1).toBeDefined();
    // k2 is free while k1 is held, for the other worker and for the holder itself.
    expect(await b.run('k2', async () => 'k2 done')).toBe('k2 done');
    const releaseK2 = await a.tryAcquire('k2');
    expect(releaseK2).toBeDefined();
    releaseK2!();
    const waitingK1 = track(b.run('k1', async () => 'k1 done'));
    await settle();
    expect(waitingK1.settled()).toBe(false);
    expect(await b.isLocked('k1')).toBe(true);
    expect(await b.isLocked('k2')).toBe(false);
    holdK1!();
    await settle();
    expect(waitingK1.value()).toBe('k1 done');
    expect(cluster.server.size).toBe(0);
  });

  it('tryAcquire: a release function when the key is free, undefined when anyone holds it (itself included), and a refusal neither takes nor queues', async () => {
    const release = await a.tryAcquire('k');
    expect(typeof release).toBe('function');
    expect(await b.tryAcquire('k')).toBeUndefined();
    expect(await a.tryAcquire('k')).toBeUndefined(); // not re-entrant
    release!();
    await settle();
    // The refused attempts left nothing behind: the key is free, not handed to them.
    expect(cluster.server.size).toBe(0);
    expect(await a.isLocked('k')).toBe(false);

    const releaseB = await b.tryAcquire('k');
    expect(releaseB).toBeDefined();
    releaseB!();

    // Busy while a run holds it, free again after.
    const gateRun = gate();
    const run = a.run('k', () => gateRun.promise);
    await settle();
    expect(await b.tryAcquire('k')).toBeUndefined();
    gateRun.open();
    await run;
    await settle();
    const again = await b.tryAcquire('k');
    expect(again).toBeDefined();
    again!();
    await settle();
    expect(cluster.server.size).toBe(0);
  });

  it('isLocked follows the holder, from either worker', async () => {
    expect(await a.isLocked('k')).toBe(false);
    expect(await b.isLocked('k')).toBe(false);
    const gateRun = gate();
    const run = a.run('k', () => gateRun.promise);
    await settle();
    expect(await a.isLocked('k')).toBe(true);
    expect(await b.isLocked('k')).toBe(true);
    expect(await b.isLocked('other')).toBe(false);
    gateRun.open();
    await run;
    await settle();
    expect(await b.isLocked('k')).toBe(false);
  });

  it('releases the key when the work throws', async () => {
    await expect(a.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await b.run('k', async () => 'after')).toBe('after');
    await settle();
    expect(cluster.server.size).toBe(0);
  });

  it('a second release is harmless: it does not release the next holder (client side nor, for a duplicate message, server side)', async () => {
    const release = await a.tryAcquire('k');
    const gateB = gate();
    let bStarted = false;
    const runB = b.run('k', async () => {
      bStarted = true;
      await gateB.promise;
    });
    await settle();
    expect(bStarted).toBe(false);

    release!();
    await settle();
    expect(bStarted).toBe(true);
    release!(); // again: must not free B's hold
    await settle();
    expect(cluster.releasesSentBy(1, 'k')).toHaveLength(1);
    expect(await a.tryAcquire('k')).toBeUndefined();

    // The same release message arriving twice at the server (a duplicate on the wire) changes nothing either.
    cluster.server.handle(1, cluster.releasesSentBy(1, 'k')[0]!);
    expect(await a.isLocked('k')).toBe(true);
    expect(await a.tryAcquire('k')).toBeUndefined();

    gateB.open();
    await runB;
    await settle();
    expect(cluster.server.size).toBe(0);
  });

  it('ignores messages of other kinds on the channel, and replies to requests it did not make', async () => {
    const gateRun = gate();
    const run = b.run('k', () => gateRun.promise);
    await settle();
    const waiting = track(a.run('k', async () => 'granted'));
    await settle();
    const seq = cluster.requests.filter((r) => r.workerId === 1).at(-1)!.request.seq;
    // Metrics replies share the channel and carry their own seq numbers; a stray lock reply names no pending request.
    cluster.deliverToWorker(1, { kind: 'registry-metrics', seq, text: 'x' });
    cluster.deliverToWorker(1, { kind: 'registry-lock', seq: seq + 1000, ok: true });
    await settle();
    expect(waiting.settled()).toBe(false);
    gateRun.open();
    await run;
    await settle();
    expect(waiting.value()).toBe('granted');
  });

  it('forget(worker): a dead worker’s holds are released and its waiters dropped; the next waiter of another worker gets the key', async () => {
    const c = cluster.worker(3);
    const events: string[] = [];
    const never = new Promise<void>(() => undefined);
    const gateB = gate();
    const gateC = gate();

    // k: held by A (which dies holding it); waiters A2, B, A3, C.
    void a.run('k', async () => {
      events.push('A1');
      await never;
    });
    await settle();
    void a.run('k', async () => void events.push('A2'));
    const runB = b.run('k', async () => {
      events.push('B');
      await gateB.promise;
    });
    void a.run('k', async () => void events.push('A3'));
    const runC = c.run('k', async () => {
      events.push('C');
      await gateC.promise;
    });
    // j: held by B, A waits for it.
    const releaseJ = await b.tryAcquire('j');
    expect(releaseJ).toBeDefined();
    void a.run('j', async () => void events.push('A-j'));
    await settle();
    expect(events).toEqual(['A1']);
    expect(cluster.server.size).toBe(2);

    const lateRelease: LockRequest = { kind: 'registry-lock', op: 'release', key: 'k', seq: cluster.requests.find((r) => r.workerId === 1)!.request.seq };
    cluster.kill(1);
    await settle();
    expect(events).toEqual(['A1', 'B']); // A2 was dropped: B is next

    // A late release from the dead worker does not free B's hold.
    cluster.server.handle(1, lateRelease);
    expect(await c.isLocked('k')).toBe(true);

    gateB.open();
    await runB;
    await settle();
    expect(events).toEqual(['A1', 'B', 'C']); // A3 was dropped too

    releaseJ!(); // A's waiter on j is gone: j becomes free rather than granted to the dead worker
    await settle();
    expect(await c.isLocked('j')).toBe(false);
    expect(events).not.toContain('A-j');

    gateC.open();
    await runC;
    await settle();
    expect(cluster.server.size).toBe(0);
  });

  it('forget(1) leaves worker 11 alone (worker ids are not prefixes of one another)', async () => {
    const w11 = cluster.worker(11);
    const release11 = await w11.tryAcquire('k');
    expect(release11).toBeDefined();
    const waitingA = track(a.run('x', async () => 'x'));
    await settle();
    cluster.kill(1);
    expect(await b.isLocked('k')).toBe(true);
    expect(await b.tryAcquire('k')).toBeUndefined();
    release11!();
    await settle();
    expect(await b.isLocked('k')).toBe(false);
    expect(waitingA.settled()).toBe(true); // it ran before the kill: x was free
    expect(cluster.server.size).toBe(0);
  });

  it('forget of a worker that holds nothing changes nothing', async () => {
    const release = await a.tryAcquire('k');
    cluster.kill(2);
    expect(cluster.server.size).toBe(1);
    expect(await a.tryAcquire('k')).toBeUndefined();
    release!();
    await settle();
    expect(cluster.server.size).toBe(0);
  });
});

describe(LockServer.name, () => {
  it('answers each request to the worker that asked, with its seq', () => {
    const replies: { workerId: number; reply: LockReply }[] = [];
    const server = new LockServer((workerId, reply) => replies.push({ workerId, reply }));
    server.handle(1, { kind: 'registry-lock', op: 'acquire', key: 'k', seq: 7 });
    server.handle(2, { kind: 'registry-lock', op: 'try', key: 'k', seq: 7 });
    server.handle(2, { kind: 'registry-lock', op: 'held', key: 'k', seq: 8 });
    server.handle(2, { kind: 'registry-lock', op: 'acquire', key: 'k', seq: 9 });
    expect(replies).toEqual([
      { workerId: 1, reply: { kind: 'registry-lock', seq: 7, ok: true } },
      { workerId: 2, reply: { kind: 'registry-lock', seq: 7, ok: false } },
      { workerId: 2, reply: { kind: 'registry-lock', seq: 8, ok: true } },
    ]);
    // A release naming another seq of the holder's worker is not the holder's.
    server.handle(1, { kind: 'registry-lock', op: 'release', key: 'k', seq: 6 });
    expect(replies).toHaveLength(3);
    server.handle(1, { kind: 'registry-lock', op: 'release', key: 'k', seq: 7 });
    expect(replies.at(-1)).toEqual({ workerId: 2, reply: { kind: 'registry-lock', seq: 9, ok: true } });
    expect(server.size).toBe(1);
    server.handle(2, { kind: 'registry-lock', op: 'release', key: 'k', seq: 9 });
    expect(server.size).toBe(0);
  });
});

describe(LocalLocks.name, () => {
  let locks: LocalLocks;
  beforeEach(() => {
    locks = new LocalLocks();
  });

  it('runs work of one key one at a time, in call order, and different keys at once', async () => {
    const events: string[] = [];
    const gate1 = gate();
    const first = locks.run('k', async () => {
      events.push('1 start');
      await gate1.promise;
      events.push('1 end');
    });
    const second = locks.run('k', async () => void events.push('2'));
    const other = locks.run('other', async () => void events.push('other'));
    await other;
    await settle();
    expect(events).toEqual(['1 start', 'other']);
    gate1.open();
    await Promise.all([first, second]);
    expect(events).toEqual(['1 start', 'other', '1 end', '2']);
    expect(await locks.isLocked('k')).toBe(false);
  });

  it('tryAcquire answers a release function when free and undefined when busy; isLocked follows', async () => {
    expect(await locks.isLocked('k')).toBe(false);
    const release = await locks.tryAcquire('k');
    expect(typeof release).toBe('function');
    expect(await locks.isLocked('k')).toBe(true);
    expect(await locks.tryAcquire('k')).toBeUndefined();
    expect(await locks.tryAcquire('other')).toBeDefined();
    release!();
    expect(await locks.isLocked('k')).toBe(false);
    const again = await locks.tryAcquire('k');
    expect(again).toBeDefined();
    again!();
  });

  it('a run waits for a tryAcquire hold, and a second release does not free the next holder', async () => {
    const release = await locks.tryAcquire('k');
    const gateRun = gate();
    let started = false;
    const run = locks.run('k', async () => {
      started = true;
      await gateRun.promise;
    });
    await settle();
    expect(started).toBe(false);
    release!();
    await settle();
    expect(started).toBe(true);
    release!();
    expect(await locks.isLocked('k')).toBe(true);
    expect(await locks.tryAcquire('k')).toBeUndefined();
    gateRun.open();
    await run;
    expect(await locks.isLocked('k')).toBe(false);
  });

  it('releases the key when the work throws', async () => {
    await expect(locks.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await locks.isLocked('k')).toBe(false);
  });
});

describe(createSharedLocks.name, () => {
  it('outside a cluster worker: in-process locks of their own for each caller', async () => {
    const one = createSharedLocks();
    const two = createSharedLocks();
    expect(one).toBeInstanceOf(LocalLocks);
    expect(two).toBeInstanceOf(LocalLocks);
    const release = await one.tryAcquire('k');
    expect(await two.isLocked('k')).toBe(false);
    release!();
  });
});
