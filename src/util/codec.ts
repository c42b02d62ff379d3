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
 * Decodes exactly one MessagePack value.
 * @throws {@link CodecError} if `bytes` are not exactly one value.
 */
export function decode<T = unknown>(bytes: Uint8Array): T {
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
