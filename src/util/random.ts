import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

/**
 * A source of randomness. Everything random in tsraft (election timeouts,
 * simulated network faults, test choices) comes through one of these, so a
 * seeded instance makes a whole run reproducible.
 */
export interface Random {
  /** A uniform integer in [0, n). `n` must be a positive safe integer. */
  int(n: number): number;
  /** A uniform float in [0, 1). */
  float(): number;
  /** An independent stream derived deterministically from this one. */
  fork(): Random;
}

/** A seeded, deterministic {@link Random} (xoroshiro128+ from pure-rand). */
export class SeededRandom implements Random {
  private readonly gen: RandomGenerator;

  constructor(readonly seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    // xoroshiro128plus takes a 32-bit seed; fold the high bits in so that
    // seeds differing only above bit 31 still give different streams.
    const folded = (seed ^ Math.floor(seed / 0x1_0000_0000)) | 0;
    this.gen = xoroshiro128plus(folded);
  }

  int(n: number): number {
    if (!(n >= 1) || !Number.isSafeInteger(n)) throw new RangeError(`int(n) needs a positive safe integer, got ${n}`);
    return uniformInt(this.gen, 0, n - 1);
  }

  float(): number {
    return uniformFloat64(this.gen);
  }

  fork(): Random {
    return new SeededRandom(uniformInt(this.gen, 0, 0x7fff_ffff));
  }
}

/** A fresh seed from the platform's entropy, for runs that need not replay. */
export function entropySeed(): number {
  const buf = new Uint32Array(1);
  globalThis.crypto.getRandomValues(buf);
  return buf[0]! & 0x7fff_ffff;
}
