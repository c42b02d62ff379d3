import { Packr } from 'msgpackr';

/**
 * The binary encoding of everything tsraft puts on a wire or in a persisted
 * blob: MessagePack (msgpackr). Byte arrays stay byte arrays, so entry
 * payloads cost their length plus a few bytes of framing.
 */
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false, variableMapSize: true });

export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function decode<T = unknown>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T;
}

/** Decodes a concatenation of encoded values. */
export function decodeAll(bytes: Uint8Array): unknown[] {
  return packr.unpackMultiple(bytes) as unknown[];
}
