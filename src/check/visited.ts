/**
 * The set of (linearized operations, state) pairs a linearizability search
 * has already explored (Lowe's memo for the Wing–Gong search), built for a
 * hot loop: no allocation per lookup, no per-entry objects.
 *
 * The linearized set is a bitset kept by the caller in {@link bits}; its hash
 * is updated in O(1) on every set and clear (Zobrist: the XOR of a random
 * word per operation in the set), so a lookup hashes nothing. A state is a
 * small integer (the caller interns its states). Entries live in flat typed
 * arrays (their bitsets copied into one arena) indexed by an open-addressing
 * table; a hash match is confirmed by comparing the full bitsets.
 */
export class VisitedSet {
  /** The current linearized set, one bit per operation; change it only through set/clear. */
  readonly bits: Int32Array;
  private readonly words: number;
  /** A random word per operation; the bitset's hash is the XOR of those of its members. */
  private readonly zobrist: Int32Array;
  private bitsHash = 0;
  private count = 0;
  private entryBits: Int32Array;
  private entryState: Int32Array;
  private entryHash: Int32Array;
  /** Slots holding entry index + 1; 0 is empty. Size a power of two, at most half full. */
  private table: Int32Array;

  constructor(operations: number) {
    this.words = Math.max(1, (operations + 31) >>> 5);
    this.bits = new Int32Array(this.words);
    this.zobrist = new Int32Array(operations);
    // A fixed xorshift32 sequence: the search is deterministic, run to run.
    let x = 0x2545f491;
    for (let i = 0; i < operations; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.zobrist[i] = x;
    }
    // Small histories get small tables (they are checked by the thousand in tests); big ones grow.
    let cap = 64;
    while (cap < operations * 4 && cap < 4096) cap *= 2;
    this.entryBits = new Int32Array(cap * this.words);
    this.entryState = new Int32Array(cap);
    this.entryHash = new Int32Array(cap);
    this.table = new Int32Array(cap * 2);
  }

  /** Adds operation `i` to the linearized set. */
  set(i: number): void {
    this.bits[i >>> 5]! |= 1 << (i & 31);
    this.bitsHash ^= this.zobrist[i]!;
  }

  /** Removes operation `i` from the linearized set. */
  clear(i: number): void {
    this.bits[i >>> 5]! &= ~(1 << (i & 31));
    this.bitsHash ^= this.zobrist[i]!;
  }

  /** Records (current linearized set, `state`); false if it was already recorded. */
  add(state: number): boolean {
    const h = this.bitsHash ^ Math.imul(state + 1, 0x9e3779b1);
    const mask = this.table.length - 1;
    let slot = h & mask;
    for (let e = this.table[slot]!; e !== 0; e = this.table[slot]!) {
      if (this.entryHash[e - 1] === h && this.entryState[e - 1] === state && this.sameBits(e - 1)) return false;
      slot = (slot + 1) & mask;
    }
    if (this.count === this.entryState.length) this.grow();
    const e = this.count++;
    this.entryBits.set(this.bits, e * this.words);
    this.entryState[e] = state;
    this.entryHash[e] = h;
    if (this.count * 2 > this.table.length) this.rehash();
    else this.table[slot] = e + 1;
    return true;
  }

  /** Entries recorded so far. */
  get size(): number {
    return this.count;
  }

  private sameBits(e: number): boolean {
    const b = this.bits;
    const a = this.entryBits;
    for (let i = 0, o = e * this.words; i < this.words; i++, o++) if (a[o] !== b[i]) return false;
    return true;
  }

  private grow(): void {
    const cap = this.entryState.length * 2;
    const bits = new Int32Array(cap * this.words);
    bits.set(this.entryBits);
    this.entryBits = bits;
    const state = new Int32Array(cap);
    state.set(this.entryState);
    this.entryState = state;
    const hash = new Int32Array(cap);
    hash.set(this.entryHash);
    this.entryHash = hash;
  }

  /** Doubles the table and re-inserts every entry (the last one added included). */
  private rehash(): void {
    const table = new Int32Array(this.table.length * 2);
    const mask = table.length - 1;
    for (let e = 0; e < this.count; e++) {
      let slot = this.entryHash[e]! & mask;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
      table[slot] = e + 1;
    }
    this.table = table;
  }
}
