import cluster from 'node:cluster';
import { KeyedMutex } from '../common/concurrency/keyed-mutex';

/**
 * A mutex per key that holds across every worker of this registry process
 * (REGISTRY_WORKERS): in one process it is an in-process KeyedMutex; in a cluster worker the
 * primary keeps the locks and the worker asks for them over IPC (see LockServer). A lock
 * held by a worker that dies is released by the primary, so a crash never wedges a key.
 * Across replicas on other hosts, the database is what coordinates (GC's lease and the
 * re-checks in its transactions).
 */
export interface SharedLocks {
  /** Runs `work` with the key held; waits for the key when another holder has it. */
  run<T>(key: string, work: () => Promise<T>): Promise<T>;
  /** Takes the key if it is free right now: a release function, or undefined when busy. */
  tryAcquire(key: string): Promise<(() => void) | undefined>;
  /** Whether someone holds the key now. */
  isLocked(key: string): Promise<boolean>;
}

/** Worker → primary. `seq` names the request and, for acquire/try, the hold it creates. */
export interface LockRequest {
  kind: 'registry-lock';
  op: 'acquire' | 'try' | 'release' | 'held';
  key: string;
  seq: number;
}

/** Primary → worker: the answer to request `seq` (granted, or held for `held`). */
export interface LockReply {
  kind: 'registry-lock';
  seq: number;
  ok: boolean;
}

export const isLockRequest = (m: unknown): m is LockRequest => (m as LockRequest | undefined)?.kind === 'registry-lock' && typeof (m as LockRequest).key === 'string';

/** The in-process implementation (one process, or tests). */
export class LocalLocks implements SharedLocks {
  private readonly mutex = new KeyedMutex();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.mutex.run(key, work);
  }

  tryAcquire(key: string): Promise<(() => void) | undefined> {
    return Promise.resolve(this.mutex.tryAcquire(key));
  }

  isLocked(key: string): Promise<boolean> {
    return Promise.resolve(this.mutex.isLocked(key));
  }
}

/** A cluster worker's locks, kept by the primary. */
export class ClusterLocks implements SharedLocks {
  private seq = 0;
  private readonly pending = new Map<number, (ok: boolean) => void>();

  constructor(private readonly channel: { send(message: LockRequest): unknown; on(event: 'message', listener: (message: unknown) => void): unknown }) {
    channel.on('message', (message) => {
      const reply = message as LockReply;
      if (reply?.kind !== 'registry-lock') return;
      const resolve = this.pending.get(reply.seq);
      this.pending.delete(reply.seq);
      resolve?.(reply.ok);
    });
  }

  private ask(op: LockRequest['op'], key: string): Promise<{ ok: boolean; seq: number }> {
    const seq = ++this.seq;
    return new Promise((resolve) => {
      this.pending.set(seq, (ok) => resolve({ ok, seq }));
      this.channel.send({ kind: 'registry-lock', op, key, seq });
    });
  }

  private releaser(key: string, seq: number): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.channel.send({ kind: 'registry-lock', op: 'release', key, seq });
    };
  }

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const { seq } = await this.ask('acquire', key);
    const release = this.releaser(key, seq);
    try {
      return await work();
    } finally {
      release();
    }
  }

  async tryAcquire(key: string): Promise<(() => void) | undefined> {
    const { ok, seq } = await this.ask('try', key);
    return ok ? this.releaser(key, seq) : undefined;
  }

  async isLocked(key: string): Promise<boolean> {
    return (await this.ask('held', key)).ok;
  }
}

/**
 * The primary's side: per key, the current holder and the FIFO of waiters. A holder is
 * (worker id, request seq). When a worker exits, its holds are released and its waiters dropped.
 */
export class LockServer {
  private readonly keys = new Map<string, { holder: string; waiters: { holder: string; grant: () => void }[] }>();

  constructor(private readonly reply: (workerId: number, message: LockReply) => void) {}

  handle(workerId: number, request: LockRequest): void {
    const holder = `${workerId}:${request.seq}`;
    const entry = this.keys.get(request.key);
    switch (request.op) {
      case 'held':
        this.reply(workerId, { kind: 'registry-lock', seq: request.seq, ok: entry !== undefined });
        return;
      case 'try':
        if (!entry) this.keys.set(request.key, { holder, waiters: [] });
        this.reply(workerId, { kind: 'registry-lock', seq: request.seq, ok: !entry });
        return;
      case 'acquire': {
        const grant = (): void => this.reply(workerId, { kind: 'registry-lock', seq: request.seq, ok: true });
        if (!entry) {
          this.keys.set(request.key, { holder, waiters: [] });
          grant();
        } else {
          entry.waiters.push({ holder, grant });
        }
        return;
      }
      case 'release':
        if (entry?.holder === holder) this.handOn(request.key);
        return;
    }
  }

  /** Everything `workerId` held or waited for is given up (the worker exited). */
  forget(workerId: number): void {
    const prefix = `${workerId}:`;
    for (const [key, entry] of [...this.keys]) {
      entry.waiters = entry.waiters.filter((w) => !w.holder.startsWith(prefix));
      if (entry.holder.startsWith(prefix)) this.handOn(key);
    }
  }

  /** How many keys are held (tests and diagnostics). */
  get size(): number {
    return this.keys.size;
  }

  private handOn(key: string): void {
    const entry = this.keys.get(key)!;
    const next = entry.waiters.shift();
    if (!next) {
      this.keys.delete(key);
      return;
    }
    entry.holder = next.holder;
    next.grant();
  }
}

let workerLocks: ClusterLocks | undefined;

/**
 * The right implementation for this process: in a cluster worker, the one IPC client of the
 * process (one reply listener, one sequence); otherwise in-process locks of their own (each
 * application in one process, as in the e2e tests, has its own).
 */
export function createSharedLocks(): SharedLocks {
  if (cluster.isWorker && process.send) {
    return (workerLocks ??= new ClusterLocks({ send: (m) => process.send!(m), on: (event, listener) => process.on(event, listener) }));
  }
  return new LocalLocks();
}
