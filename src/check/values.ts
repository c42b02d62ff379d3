/**
 * Interned values for the checker's model: every distinct string gets one
 * small integer id, so the search compares and stores states as integers.
 * Id 0 is "absent" (no value), which is not the empty string.
 *
 * Appends make new strings at every step of a search over append-heavy
 * histories; building and hashing them there would cost their whole length
 * each time. So a value produced by an append is kept as (parent id, suffix)
 * with polynomial hashes of its text, computed in O(1) from the parent's;
 * its text is built only when a hash matches another value's, to confirm
 * they are equal. Equal strings always get the same id: a different hash
 * proves the strings differ, and an equal hash is confirmed by comparing text.
 * Everything is kept in flat typed arrays and open-addressing tables: the
 * search allocates nothing per step.
 */

// Two hashes modulo primes below 2^26, so every product stays exact in a double.
const P1 = 67108859;
const P2 = 67108837;
const B1 = 131;
const B2 = 65599;

const mix = (a: number, b: number): number => {
  let h = Math.imul(a ^ Math.imul(b, 0x85ebca6b), 0xc2b2ae35);
  h ^= h >>> 15;
  return h;
};

function grown<T extends Int32Array>(a: T, size: number): T {
  const b = new Int32Array(size) as T;
  b.set(a);
  return b;
}

export class ValueTable {
  private count = 1;
  // Per id. Id 0 (absent) appends like the empty string but is never found by text.
  private h1: Int32Array;
  private h2: Int32Array;
  private len: Int32Array;
  private parent: Int32Array;
  /** For an append result: the suffix (an index into the registered suffixes). */
  private suffixOf: Int32Array;
  /** The text, once built: interned strings, and append results needed for a comparison. */
  private readonly text = new Map<number, string>([[0, '']]);
  /** Id + 1 by hash of the text; 0 empty. */
  private byHash: Int32Array;

  // Registered suffixes (the values of append operations), with their hashes and the bases raised to their lengths.
  private readonly suffixes: string[] = [];
  private readonly sh1: number[] = [];
  private readonly sh2: number[] = [];
  private readonly spow1: number[] = [];
  private readonly spow2: number[] = [];

  // Memo of append(id, suffix) → id: keys (id + 1, suffix), 0 empty.
  private memoId: Int32Array;
  private memoSuffix: Int32Array;
  private memoResult: Int32Array;
  private memoCount = 0;

  /** `expected`: about how many values there will be (the tables grow past it). */
  constructor(expected = 64) {
    let cap = 16;
    while (cap < expected && cap < 4096) cap *= 2;
    this.h1 = new Int32Array(cap);
    this.h2 = new Int32Array(cap);
    this.len = new Int32Array(cap);
    this.parent = new Int32Array(cap);
    this.suffixOf = new Int32Array(cap);
    this.byHash = new Int32Array(cap * 2);
    this.memoId = new Int32Array(cap * 2);
    this.memoSuffix = new Int32Array(cap * 2);
    this.memoResult = new Int32Array(cap * 2);
  }

  /** The id of `s`. */
  intern(s: string): number {
    let h1 = 0;
    let h2 = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      h1 = (h1 * B1 + c) % P1;
      h2 = (h2 * B2 + c) % P2;
    }
    const mask = this.byHash.length - 1;
    for (let slot = mix(h1, h2) & mask; this.byHash[slot] !== 0; slot = (slot + 1) & mask) {
      const id = this.byHash[slot]! - 1;
      if (this.h1[id] === h1 && this.h2[id] === h2 && this.len[id] === s.length && this.textOf(id) === s) return id;
    }
    const id = this.add(h1, h2, s.length, 0, -1);
    this.text.set(id, s);
    return id;
  }

  /** Registers the value of an append; returns the index {@link append} takes. */
  suffix(s: string): number {
    let h1 = 0;
    let h2 = 0;
    let pow1 = 1;
    let pow2 = 1;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      h1 = (h1 * B1 + c) % P1;
      h2 = (h2 * B2 + c) % P2;
      pow1 = (pow1 * B1) % P1;
      pow2 = (pow2 * B2) % P2;
    }
    this.suffixes.push(s);
    this.sh1.push(h1);
    this.sh2.push(h2);
    this.spow1.push(pow1);
    this.spow2.push(pow2);
    return this.suffixes.length - 1;
  }

  /** The id of the text of `id` (absent reads as empty) followed by registered suffix `k`. */
  append(id: number, k: number): number {
    let mask = this.memoId.length - 1;
    let slot = mix(id, k) & mask;
    for (; this.memoId[slot] !== 0; slot = (slot + 1) & mask) if (this.memoId[slot] === id + 1 && this.memoSuffix[slot] === k) return this.memoResult[slot]!;
    const result = this.appendUncached(id, k);
    if (++this.memoCount * 2 > this.memoId.length) {
      this.growMemo();
      mask = this.memoId.length - 1;
      for (slot = mix(id, k) & mask; this.memoId[slot] !== 0; slot = (slot + 1) & mask);
    }
    this.memoId[slot] = id + 1;
    this.memoSuffix[slot] = k;
    this.memoResult[slot] = result;
    return result;
  }

  /** The text of a value (the empty string for absent). */
  textOf(id: number): string {
    let t = this.text.get(id);
    if (t !== undefined) return t;
    // Walk up to the nearest value whose text is known, then build down (no recursion: chains can be long).
    const path: number[] = [];
    let at = id;
    while ((t = this.text.get(at)) === undefined) {
      path.push(at);
      at = this.parent[at]!;
    }
    for (let i = path.length - 1; i >= 0; i--) {
      t += this.suffixes[this.suffixOf[path[i]!]!]!;
      this.text.set(path[i]!, t);
    }
    return t;
  }

  private appendUncached(id: number, k: number): number {
    const h1 = (this.h1[id]! * this.spow1[k]! + this.sh1[k]!) % P1;
    const h2 = (this.h2[id]! * this.spow2[k]! + this.sh2[k]!) % P2;
    const length = this.len[id]! + this.suffixes[k]!.length;
    const mask = this.byHash.length - 1;
    let built: string | undefined;
    for (let slot = mix(h1, h2) & mask; this.byHash[slot] !== 0; slot = (slot + 1) & mask) {
      const c = this.byHash[slot]! - 1;
      if (this.h1[c] !== h1 || this.h2[c] !== h2 || this.len[c] !== length) continue;
      built ??= this.textOf(id) + this.suffixes[k]!;
      if (this.textOf(c) === built) return c;
    }
    const c = this.add(h1, h2, length, id, k);
    if (built !== undefined) this.text.set(c, built);
    return c;
  }

  private add(h1: number, h2: number, length: number, parent: number, suffix: number): number {
    if (this.count === this.h1.length) {
      const size = this.count * 2;
      this.h1 = grown(this.h1, size);
      this.h2 = grown(this.h2, size);
      this.len = grown(this.len, size);
      this.parent = grown(this.parent, size);
      this.suffixOf = grown(this.suffixOf, size);
    }
    const id = this.count++;
    this.h1[id] = h1;
    this.h2[id] = h2;
    this.len[id] = length;
    this.parent[id] = parent;
    this.suffixOf[id] = suffix;
    if (this.count * 2 > this.byHash.length) {
      this.byHash = new Int32Array(this.byHash.length * 2);
      for (let v = 1; v < this.count; v++) this.index(v);
    } else this.index(id);
    return id;
  }

  private index(id: number): void {
    const mask = this.byHash.length - 1;
    let slot = mix(this.h1[id]!, this.h2[id]!) & mask;
    while (this.byHash[slot] !== 0) slot = (slot + 1) & mask;
    this.byHash[slot] = id + 1;
  }

  private growMemo(): void {
    const ids = this.memoId;
    const suffixes = this.memoSuffix;
    const results = this.memoResult;
    const size = ids.length * 2;
    this.memoId = new Int32Array(size);
    this.memoSuffix = new Int32Array(size);
    this.memoResult = new Int32Array(size);
    const mask = size - 1;
    for (let s = 0; s < ids.length; s++) {
      if (ids[s] === 0) continue;
      let slot = mix(ids[s]! - 1, suffixes[s]!) & mask;
      while (this.memoId[slot] !== 0) slot = (slot + 1) & mask;
      this.memoId[slot] = ids[s]!;
      this.memoSuffix[slot] = suffixes[s]!;
      this.memoResult[slot] = results[s]!;
    }
  }
}
