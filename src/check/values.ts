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
 */

// Two hashes modulo primes below 2^26, so every product stays exact in a double.
const P1 = 67108859;
const P2 = 67108837;
const B1 = 131;
const B2 = 65599;

/** Hashes of a string, and the base raised to its length (to append it in O(1)). */
export interface TextHash {
  readonly h1: number;
  readonly h2: number;
  readonly pow1: number;
  readonly pow2: number;
  readonly length: number;
}

export function hashText(s: string): TextHash {
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
  return { h1, h2, pow1, pow2, length: s.length };
}

export class ValueTable {
  // Per id. Id 0 (absent) appends like the empty string but is never found by text.
  private readonly h1: number[] = [0];
  private readonly h2: number[] = [0];
  private readonly len: number[] = [0];
  /** The text, once built; undefined for an append result not yet needed. */
  private readonly text: (string | undefined)[] = [''];
  private readonly parent: number[] = [0];
  private readonly suffix: string[] = [''];
  /** The next id with the same hash key, or -1. */
  private readonly chain: number[] = [-1];
  /** Hash key → the last id added with it. */
  private readonly byHash = new Map<number, number>();

  /** The id of `s`. */
  intern(s: string): number {
    const t = hashText(s);
    const key = t.h1 * P2 + t.h2;
    for (let id = this.byHash.get(key) ?? -1; id !== -1; id = this.chain[id]!) if (this.len[id] === t.length && this.textOf(id) === s) return id;
    return this.add(key, t.h1, t.h2, t.length, s, 0, '');
  }

  /** The id of the text of `id` (absent reads as empty) followed by `s`, whose hashes are `t`. */
  append(id: number, s: string, t: TextHash): number {
    const h1 = (this.h1[id]! * t.pow1 + t.h1) % P1;
    const h2 = (this.h2[id]! * t.pow2 + t.h2) % P2;
    const length = this.len[id]! + t.length;
    const key = h1 * P2 + h2;
    let built: string | undefined;
    for (let c = this.byHash.get(key) ?? -1; c !== -1; c = this.chain[c]!) {
      if (this.len[c] !== length) continue;
      built ??= this.textOf(id) + s;
      if (this.textOf(c) === built) return c;
    }
    return this.add(key, h1, h2, length, built, id, s);
  }

  /** The text of a value (the empty string for absent). */
  textOf(id: number): string {
    let t = this.text[id];
    if (t !== undefined) return t;
    // Walk up to the nearest value whose text is built, then build down (no recursion: chains can be long).
    const path: number[] = [];
    let at = id;
    while (this.text[at] === undefined) {
      path.push(at);
      at = this.parent[at]!;
    }
    t = this.text[at]!;
    for (let k = path.length - 1; k >= 0; k--) {
      t += this.suffix[path[k]!]!;
      this.text[path[k]!] = t;
    }
    return t;
  }

  private add(key: number, h1: number, h2: number, length: number, text: string | undefined, parent: number, suffix: string): number {
    const id = this.len.length;
    this.h1.push(h1);
    this.h2.push(h2);
    this.len.push(length);
    this.text.push(text);
    this.parent.push(parent);
    this.suffix.push(suffix);
    this.chain.push(this.byHash.get(key) ?? -1);
    this.byHash.set(key, id);
    return id;
  }
}
