// `@node-rs/crc32` (native) in the browser bundles: the same CRC-32C from SheetJS's crc-32.
import CRC32C from 'crc-32/crc32c.js';

export function crc32c(input: string | Uint8Array, initialState = 0): number {
  const seed = initialState | 0;
  return (typeof input === 'string' ? CRC32C.str(input, seed) : CRC32C.buf(input, seed)) >>> 0;
}
