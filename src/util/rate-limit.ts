import type { Logger } from './log.js';

/** What {@link RateLimiter.allow} decides for one event. */
export type RateDecision = { readonly ok: true; readonly suppressed: number } | { readonly ok: false };

export interface RateLimiterOptions {
  /** Length of a window (ms). */
  readonly intervalMs: number;
  /** Events allowed per key per window. Default 1. */
  readonly burst?: number;
  /** Keys remembered at most; past that the memory is cleared (keys may come from remote input). Default 4096. */
  readonly maxKeys?: number;
  /** A monotonic clock in ms. Default `performance.now`. */
  readonly now?: () => number;
}

/**
 * Allows at most `burst` events per key per window, and counts the rest, so
 * that a flood of identical events (a client aborting uploads in a loop, a
 * peer sending garbage) costs a few log lines per window instead of one each.
 * The first event allowed after a suppressed stretch reports how many were
 * suppressed.
 */
export class RateLimiter {
  private readonly seen = new Map<string, { start: number; used: number; suppressed: number }>();
  private readonly intervalMs: number;
  private readonly burst: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(opts: RateLimiterOptions) {
    if (!(opts.intervalMs > 0)) throw new RangeError(`intervalMs must be positive, got ${opts.intervalMs}`);
    this.intervalMs = opts.intervalMs;
    this.burst = Math.max(1, Math.floor(opts.burst ?? 1));
    this.maxKeys = opts.maxKeys ?? 4096;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Whether the event of `key` may happen now; if so, how many of that key were suppressed before it. */
  allow(key: string): RateDecision {
    const now = this.now();
    let s = this.seen.get(key);
    if (s === undefined) {
      if (this.seen.size >= this.maxKeys) this.seen.clear();
      s = { start: now, used: 0, suppressed: 0 };
      this.seen.set(key, s);
    } else if (now - s.start >= this.intervalMs) {
      s.start = now;
      s.used = 0;
    }
    if (s.used >= this.burst) {
      s.suppressed++;
      return { ok: false };
    }
    s.used++;
    const suppressed = s.suppressed;
    s.suppressed = 0;
    return { ok: true, suppressed };
  }
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/**
 * A logger whose lines are rate-limited per key: `log('error', 'accept', {...}, 'msg')`
 * writes at most `burst` lines per key per window; the next line written
 * carries `suppressed: K`, the number of similar lines left out.
 */
export class RateLimitedLog {
  private readonly limiter: RateLimiter;

  constructor(
    private readonly logger: Logger,
    opts: RateLimiterOptions,
  ) {
    this.limiter = new RateLimiter(opts);
  }

  log(level: LogLevel, key: string, fields: Record<string, unknown>, msg: string): void {
    // Not even counted when the level is off: a disabled debug line must not use up the budget of the key.
    if (!this.logger.isLevelEnabled(level)) return;
    const r = this.limiter.allow(`${level}:${key}`);
    if (!r.ok) return;
    this.logger[level](r.suppressed > 0 ? { ...fields, suppressed: r.suppressed } : fields, msg);
  }
}
