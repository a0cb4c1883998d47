/**
 * An in-process mutex per key: `run(key, fn)` waits until no other `run` of the same key is
 * in flight. `tryRun` gives up at once instead of waiting (GC skips busy keys). Entries are
 * removed when idle, so memory follows the keys in use, not the keys ever seen.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const tail = new Promise<void>((resolve) => (release = resolve));
    const chained = previous.then(() => tail);
    this.tails.set(key, chained);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.tails.get(key) === chained) this.tails.delete(key);
    }
  }

  /**
   * Takes the key's lock if it is free right now, without waiting: a release function, or
   * undefined when busy. GC takes the locks of a whole batch this way and skips busy keys.
   */
  tryAcquire(key: string): (() => void) | undefined {
    if (this.tails.has(key)) return undefined;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    this.tails.set(key, held);
    return () => {
      if (this.tails.get(key) === held) this.tails.delete(key);
      release();
    };
  }


  isLocked(key: string): boolean {
    return this.tails.has(key);
  }
}
