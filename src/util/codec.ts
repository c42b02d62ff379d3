import { Decoder, Encoder } from '@msgpack/msgpack';

/**
 * The binary encoding of messages on a wire and of persisted blobs:
 * MessagePack (@msgpack/msgpack). Byte arrays stay byte arrays, so entry
 * payloads cost their length plus a few bytes of framing.
 */
const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder();

/**
 * Bytes that are not one MessagePack value (truncated, trailing bytes, a
 * reserved type byte, a bad extension, a map key that is not a string or
 * number, `__proto__` as a key). The library throws RangeError or its own
 * DecodeError for these; callers get this one type, whatever the damage.
 */
export class CodecError extends Error {
  override name = 'CodecError';
}

export function encode(value: unknown): Uint8Array {
  return encoder.encode(value);
}

/**
 * Decodes exactly one MessagePack value. With `maxValues`, the bytes are first
 * scanned (without allocating) and refused if they hold more values than that:
 * an empty map is one byte on the wire and tens of bytes on the heap, so a
 * 64 MiB frame of them would decode to gigabytes.
 * @throws {@link CodecError} if `bytes` are not exactly one value, or hold more than `maxValues` values.
 */
export function decode<T = unknown>(bytes: Uint8Array, opts?: { readonly maxValues?: number }): T {
  if (opts?.maxValues !== undefined) {
    const n = countValues(bytes, opts.maxValues);
    if (n > opts.maxValues) throw new CodecError(`a MessagePack value of ${bytes.length} bytes holds more than ${opts.maxValues} values; refused before decoding`);
  }
  try {
    return decoder.decode(bytes) as T;
  } catch (e) {
    throw new CodecError(`not a MessagePack value: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/**
 * Decodes a concatenation of encoded values.
 * @throws {@link CodecError} if `bytes` are not a sequence of whole values.
 */
export function decodeAll(bytes: Uint8Array): unknown[] {
  try {
    return [...decoder.decodeMulti(bytes)];
  } catch (e) {
    throw new CodecError(`not a sequence of MessagePack values: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Bytes after the type byte that hold a length, for str/bin/ext/array/map types with explicit lengths. */
const LENGTH_BYTES: Record<number, number> = { 0xc4: 1, 0xc5: 2, 0xc6: 4, 0xc7: 1, 0xc8: 2, 0xc9: 4, 0xd9: 1, 0xda: 2, 0xdb: 4, 0xdc: 2, 0xdd: 4, 0xde: 2, 0xdf: 4 };
/** Payload bytes of fixed-size types after the type byte. */
const FIXED_BYTES: Record<number, number> = { 0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8, 0xd4: 2, 0xd5: 3, 0xd6: 5, 0xd7: 9, 0xd8: 17 };

/**
 * How many values (containers, keys and elements included) the first value in
 * `bytes` holds, counting no further than `limit + 1`. Walks the type bytes
 * only: O(bytes) time, O(1) memory. Malformed or truncated input stops the
 * count early; the decoder reports it.
 */
export function countValues(bytes: Uint8Array, limit: number): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  let pending = 1;
  let count = 0;
  while (pending > 0 && at < bytes.length) {
    const b = bytes[at++]!;
    pending--;
    if (++count > limit) return count;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) continue;
    if (b <= 0x8f) pending += 2 * (b & 0x0f);
    else if (b <= 0x9f) pending += b & 0x0f;
    else if (b <= 0xbf) at += b & 0x1f;
    else if (FIXED_BYTES[b] !== undefined) at += FIXED_BYTES[b];
    else if (LENGTH_BYTES[b] !== undefined) {
      const w = LENGTH_BYTES[b];
      if (at + w > bytes.length) break;
      const n = w === 1 ? dv.getUint8(at) : w === 2 ? dv.getUint16(at) : dv.getUint32(at);
      at += w;
      if (b === 0xdc || b === 0xdd) pending += n;
      else if (b === 0xde || b === 0xdf) pending += 2 * n;
      else at += n + (b >= 0xc7 && b <= 0xc9 ? 1 : 0); // ext: a type byte, then the data
    } else break; // 0xc1 (never used): let the decoder say so
  }
  return count;
}
