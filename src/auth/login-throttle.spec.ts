import { LoginThrottle } from './login-throttle';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** A throttle on a clock the test moves by hand. */
function throttle(maxFailures: number, lockoutMs: number): { throttle: LoginThrottle; advance: (ms: number) => void } {
  let now = 1_700_000_000_000;
  return { throttle: new LoginThrottle(maxFailures, lockoutMs, () => now), advance: (ms) => (now += ms) };
}

function failTimes(t: LoginThrottle, n: number, user = 'alice', client = '10.0.0.1'): void {
  for (let i = 0; i < n; i++) t.fail(user, client);
}

describe(LoginThrottle.name, () => {
  it('does not lock a pair it has never seen', () => {
    const { throttle: t } = throttle(3, 10 * SECOND);
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(0);
  });

  it('does not lock before maxFailures failures in a row', () => {
    const { throttle: t } = throttle(3, 10 * SECOND);
    failTimes(t, 2);
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(0);
  });

  it('locks for lockoutMs at the maxFailures-th failure in a row', () => {
    const { throttle: t } = throttle(3, 10 * SECOND);
    failTimes(t, 3);
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(10);
  });

  it('locks at the first failure when maxFailures is 1', () => {
    const { throttle: t } = throttle(1, 30 * SECOND);
    t.fail('alice', '10.0.0.1');
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(30);
  });

  it('answers the seconds left, rounded up, until the lock expires', () => {
    const { throttle: t, advance } = throttle(3, 10 * SECOND);
    failTimes(t, 3);
    advance(1);
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(10);
    advance(999);
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(9);
    advance(8 * SECOND + 1);
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(1);
    advance(SECOND - 2);
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(1);
    advance(1);
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(0);
  });

  it('doubles the lockout with each further failure', () => {
    const { throttle: t, advance } = throttle(3, 10 * SECOND);
    failTimes(t, 3);
    const locks: number[] = [t.retryAfter('alice', '10.0.0.1')];
    for (let i = 0; i < 3; i++) {
      advance(locks[locks.length - 1]! * SECOND); // wait the lock out, then fail again
      expect(t.retryAfter('alice', '10.0.0.1')).toBe(0);
      t.fail('alice', '10.0.0.1');
      locks.push(t.retryAfter('alice', '10.0.0.1'));
    }
    expect(locks).toEqual([10, 20, 40, 80]);
  });

  it('caps the lockout at one hour', () => {
    const { throttle: t } = throttle(1, 20 * MINUTE);
    const locks: number[] = [];
    for (let i = 0; i < 4; i++) {
      t.fail('alice', '10.0.0.1');
      locks.push(t.retryAfter('alice', '10.0.0.1'));
    }
    expect(locks).toEqual([1200, 2400, 3600, 3600]);
  });

  it('stays capped at one hour after very many failures', () => {
    const { throttle: t } = throttle(5, MINUTE);
    failTimes(t, 200);
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(3600);
  });

  it('clears the lock and the streak on success', () => {
    const { throttle: t } = throttle(3, 10 * SECOND);
    failTimes(t, 3);
    expect(t.succeed('alice', '10.0.0.1')).toBe(true); // there was a record to clear
    expect(t.succeed('alice', '10.0.0.1')).toBe(false);
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(0);
    failTimes(t, 2);
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(0);
    t.fail('alice', '10.0.0.1');
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(10); // a fresh streak: the base lockout, not a doubled one
  });

  it('keeps the streak apart for each (user, client) pair', () => {
    const { throttle: t } = throttle(3, 10 * SECOND);
    failTimes(t, 3, 'alice', '10.0.0.1');
    failTimes(t, 2, 'alice', '10.0.0.2');
    failTimes(t, 2, 'bob', '10.0.0.1');
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(10);
    expect(t.retryAfter('alice', '10.0.0.2')).toBe(0);
    expect(t.retryAfter('bob', '10.0.0.1')).toBe(0);
    t.succeed('bob', '10.0.0.1');
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(10);
  });

  it('does not confuse pairs whose user and client concatenate alike', () => {
    const { throttle: t } = throttle(1, 10 * SECOND);
    t.fail('a:b', 'c');
    expect(t.retryAfter('a', 'b:c')).toBe(0);
    expect(t.retryAfter('a:b', 'c')).toBe(10);
  });

  it('keeps counting failures spread over less than an hour', () => {
    const { throttle: t, advance } = throttle(3, 10 * SECOND);
    t.fail('alice', '10.0.0.1');
    advance(50 * MINUTE);
    t.fail('alice', '10.0.0.1');
    advance(50 * MINUTE);
    t.fail('alice', '10.0.0.1');
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(10);
  });

  it('starts the streak over when the last failure is more than an hour old', () => {
    const { throttle: t, advance } = throttle(3, 10 * SECOND);
    failTimes(t, 2);
    advance(HOUR + 1);
    t.fail('alice', '10.0.0.1');
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(0);
    failTimes(t, 2);
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(10);
  });

  it('forgets the doubled lockout of a stale streak', () => {
    const { throttle: t, advance } = throttle(1, 10 * SECOND);
    failTimes(t, 4);
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(80);
    advance(HOUR + 1);
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(0);
    t.fail('alice', '10.0.0.1');
    expect(t.retryAfter('alice', '10.0.0.1')).toBe(10);
  });
});
