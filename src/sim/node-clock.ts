import type { Clock, Timer } from '../util/clock.js';

interface LocalTimer {
  /** When it fires, in this clock's local time. */
  due: number;
  fn: () => void;
  handle: Timer | null;
}

/**
 * One simulated machine's clock over the shared virtual clock: it runs fast
 * or slow by a fixed rate (drift, in parts per million), can jump forward
 * or back, and stops while the machine is paused (its timers fire, late, on
 * resume). Timers are kept in local time, so a jump moves them.
 */
export class NodeClock implements Clock {
  private offset = 0;
  private pausedAt: number | null = null;
  private readonly timers = new Set<LocalTimer>();
  private deferred: LocalTimer[] = [];

  constructor(
    private readonly base: Clock,
    /** Local time runs at `rate` × virtual time (1 ± drift). */
    private readonly rate = 1,
  ) {}

  now(): number {
    return this.base.now() * this.rate + this.offset;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const t: LocalTimer = { due: this.now() + Math.max(0, ms), fn, handle: null };
    this.timers.add(t);
    this.arm(t);
    return {
      cancel: () => {
        t.handle?.cancel();
        this.timers.delete(t);
      },
    };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(ms, resolve));
  }

  private arm(t: LocalTimer): void {
    t.handle?.cancel();
    t.handle = this.base.setTimer(Math.max(0, (t.due - this.now()) / this.rate), () => {
      t.handle = null;
      if (!this.timers.has(t)) return;
      if (this.pausedAt !== null) {
        this.deferred.push(t); // a stopped machine runs nothing
        return;
      }
      this.timers.delete(t);
      t.fn();
    });
  }

  /** The machine's clock is set forward (or back) by `ms`: timers move with it. */
  jump(ms: number): void {
    this.offset += ms;
    for (const t of this.timers) if (t.handle !== null) this.arm(t);
  }

  /** Stops the machine: timers due meanwhile wait for {@link resume}. */
  pause(): void {
    this.pausedAt ??= this.base.now();
  }

  resume(): void {
    if (this.pausedAt === null) return;
    this.pausedAt = null;
    const due = this.deferred;
    this.deferred = [];
    for (const t of due) {
      if (!this.timers.has(t)) continue;
      this.timers.delete(t);
      t.fn();
    }
  }

  get paused(): boolean {
    return this.pausedAt !== null;
  }

  /** Forgets every timer (the machine crashed). */
  reset(): void {
    for (const t of this.timers) t.handle?.cancel();
    this.timers.clear();
    this.deferred = [];
    this.pausedAt = null;
  }
}
