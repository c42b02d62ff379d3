// `node:crypto` in the browser bundles: SHA-256 (the simulator's trace hash, token digests)
// from @noble/hashes, random bytes from Web Crypto. Anything else says it is unavailable.
import { sha256 } from '@noble/hashes/sha2.js';
import { Buffer } from 'buffer';

interface Hash {
  update(data: string | Uint8Array, encoding?: 'utf8'): Hash;
  digest(encoding: 'hex'): string;
}

export function createHash(algorithm: string): Hash {
  if (algorithm !== 'sha256') throw new Error(`createHash('${algorithm}') is not available in the browser bundle (sha256 is)`);
  const h = sha256.create();
  const enc = new TextEncoder();
  const hash: Hash = {
    update(data) {
      h.update(typeof data === 'string' ? enc.encode(data) : data);
      return hash;
    },
    digest() {
      return Buffer.from(h.digest()).toString('hex');
    },
  };
  return hash;
}

export function randomBytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  globalThis.crypto.getRandomValues(b);
  return b;
}

export const webcrypto = globalThis.crypto;
