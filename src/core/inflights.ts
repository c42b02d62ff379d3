/**
 * The appends sent to one follower and not yet acknowledged, as the last index
 * each carried. Bounded, so a leader pipelines at most `capacity` appends.
 */
export class Inflights {
  private readonly buf: number[];
  private start = 0;
  private n = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`inflight capacity must be >= 1, got ${capacity}`);
    this.buf = new Array<number>(capacity).fill(0);
  }

  get count(): number {
    return this.n;
  }

  full(): boolean {
    return this.n === this.capacity;
  }

  /** Records an append whose last entry is `index`. Indexes must increase. */
  add(index: number): void {
    if (this.full()) throw new RangeError('inflights full');
    this.buf[(this.start + this.n) % this.capacity] = index;
    this.n++;
  }

  /** Frees every append whose last index is <= `index` (they are acknowledged). */
  freeLE(index: number): void {
    while (this.n > 0 && this.buf[this.start]! <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.n--;
    }
  }

  /** Frees the oldest slot, so a stalled pipeline can send one more probe. */
  freeFirstOne(): void {
    if (this.n === 0) return;
    this.start = (this.start + 1) % this.capacity;
    this.n--;
  }

  reset(): void {
    this.start = 0;
    this.n = 0;
  }
}
