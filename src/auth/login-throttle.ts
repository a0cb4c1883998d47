/**
 * Throttles password guessing per (user name, client address). After `maxFailures` failures
 * in a row, logins for that pair are refused for `lockoutMs`, doubling with each further
 * failure up to one hour; a success clears the record. While locked, even a right password
 * is refused (otherwise the lock would still let an attacker test passwords). In memory, per
 * process, bounded: records idle for an hour are dropped, and the oldest go first when full.
 */
export class LoginThrottle {
  private readonly records = new Map<string, { failures: number; lockedUntil: number; lastFailure: number }>();
  private static readonly MAX_LOCK_MS = 60 * 60 * 1000;
  private static readonly MAX_RECORDS = 100_000;

  constructor(
    private readonly maxFailures: number,
    private readonly lockoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  private static key(user: string, client: string): string {
    return `${user}\u0000${client}`;
  }

  /** Seconds until `user` may try again from `client`, or 0 when not locked. */
  retryAfter(user: string, client: string): number {
    const record = this.records.get(LoginThrottle.key(user, client));
    if (!record) return 0;
    const left = record.lockedUntil - this.now();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  fail(user: string, client: string): void {
    const key = LoginThrottle.key(user, client);
    const now = this.now();
    const record = this.records.get(key) ?? { failures: 0, lockedUntil: 0, lastFailure: now };
    if (now - record.lastFailure > LoginThrottle.MAX_LOCK_MS) record.failures = 0; // a stale streak starts over
    record.failures++;
    record.lastFailure = now;
    const over = record.failures - this.maxFailures;
    if (over >= 0) record.lockedUntil = now + Math.min(this.lockoutMs * 2 ** Math.min(over, 20), LoginThrottle.MAX_LOCK_MS);
    this.records.delete(key); // re-insert: Map order is then least recently failed first
    this.records.set(key, record);
    if (this.records.size > LoginThrottle.MAX_RECORDS) this.records.delete(this.records.keys().next().value!);
  }

  /** Clears the record of `user` from `client`; true when there was one. */
  succeed(user: string, client: string): boolean {
    return this.records.delete(LoginThrottle.key(user, client));
  }
}
