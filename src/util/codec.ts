import { Decoder, Encoder } from '@msgpack/msgpack';

/**
 * The binary encoding of messages on a wire and of persisted blobs:
 * MessagePack (@msgpack/msgpack). Byte arrays stay byte arrays, so entry
 * payloads cost their length plus a few bytes of framing.
 */
const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder();

export function encode(value: unknown): Uint8Array {
  return encoder.encode(value);
}

export function decode<T = unknown>(bytes: Uint8Array): T {
  return decoder.decode(bytes) as T;
}

/** Decodes a concatenation of encoded values. */
export function decodeAll(bytes: Uint8Array): unknown[] {
  return [...decoder.decodeMulti(bytes)];
}
