/**
 * The records of a KV snapshot (version 3), written straight into the
 * snapshot's buffer and read back without a general-purpose decoder.
 *
 * A block of records is one MessagePack `bin 32` value, so a snapshot stays a
 * sequence of MessagePack values (the head, then the blocks) that
 * `decodeAll` splits; inside a block each record is
 *
 *     key length (varint) · key (UTF-8) · value length (varint) · value (UTF-8)
 *     · createRevision (varint) · modRevision (varint) · lease (varint, 0: none)
 *
 * Why by hand: at a million keys, encoding the records as MessagePack arrays
 * took about a fifth of a loaded leader's CPU (the generic encoder walks each
 * array and encodes each string in JavaScript); here strings go through
 * Buffer's native UTF-8 writer and numbers are a few byte stores.
 */

/**
 * A growing byte buffer for a snapshot: allocated once at the expected size
 * (uninitialized: every byte returned was written), doubled if that was short.
 */
export class SnapshotBuffer {
  private buf: Buffer;
  private len = 0;

  constructor(first: Uint8Array, expected: number) {
    this.buf = Buffer.allocUnsafe(Math.max(first.length + expected, 4096));
    this.append(first);
  }

  /** Room for `n` more bytes. */
  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    bigger.set(this.buf.subarray(0, this.len));
    this.buf = bigger;
  }

  append(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /**
   * Appends one block of the records `cursor` moves over, at most `max` of
   * them; returns how many it took (fewer than `max`: the cursor is done).
   */
  appendFrom(cursor: RecordCursor, max: number): number {
    this.reserve(5);
    const start = this.len;
    this.buf[start] = 0xc6; // bin 32; its length is written once known
    this.len += 5;
    let n = 0;
    for (; n < max; n++) {
      if (!cursor.advance()) break;
      const key = cursor.key;
      const kb = Buffer.byteLength(key, 'utf8');
      const vb = cursor.valueBytes;
      this.reserve(kb + vb + 5 * MAX_VARINT_BYTES);
      this.varint(kb);
      this.len += this.buf.write(key, this.len, 'utf8');
      this.varint(vb);
      const copied = cursor.copyValue(this.buf, this.len);
      if (copied !== vb) throw new Error(`snapshot record ${JSON.stringify(key)}: value of ${vb} bytes wrote ${copied}`);
      this.len += vb;
      this.varint(cursor.create);
      this.varint(cursor.mod);
      this.varint(cursor.lease);
    }
    this.buf.writeUInt32BE(this.len - start - 5, start + 1);
    return n;
  }

  /** An unsigned integer up to 2^53, 7 bits a byte, low bits first. */
  private varint(x: number): void {
    while (x >= 0x80) {
      this.buf[this.len++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.buf[this.len++] = x;
  }

  /** The bytes written: a view, not a copy. */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/**
 * Records to write, one at a time: after `advance()` returns true, the fields
 * describe the current record (`lease` 0: none), and `copyValue` writes its
 * value's `valueBytes` UTF-8 bytes into a buffer, returning how many.
 */
export abstract class RecordCursor {
  key = '';
  valueBytes = 0;
  create = 0;
  mod = 0;
  lease = 0;
  abstract advance(): boolean;
  abstract copyValue(target: Buffer, at: number): number;
}

/** A varint of a number up to 2^53 takes at most 8 bytes. */
const MAX_VARINT_BYTES = 8;

/**
 * Calls `each` for every record of a block written by {@link SnapshotBuffer.appendFrom}
 * (the `bin` value's payload, as `decodeAll` returns it), with the value as
 * the bytes `b[at, at + len)` (valid only during the call).
 * @throws Error naming the record and offset if the block is truncated or malformed.
 */
export function readRecordBytes(block: Uint8Array, each: (key: string, b: Buffer, at: number, len: number, create: number, mod: number, lease: number | undefined) => void): number {
  const b = Buffer.from(block.buffer, block.byteOffset, block.byteLength);
  let at = 0;
  let n = 0;
  const fail = (what: string): never => {
    throw new Error(`snapshot record ${n} of a block of ${b.length} bytes: ${what} at byte ${at}`);
  };
  const varint = (): number => {
    let x = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (at >= b.length) fail('truncated number');
      if (i >= MAX_VARINT_BYTES) fail('number too long');
      const byte = b[at++]!;
      x += (byte & 0x7f) * scale;
      if (byte < 0x80) return x;
      scale *= 0x80;
    }
  };
  /** Checks a string's length against the block; returns where it starts. */
  const span = (len: number): number => {
    if (at + len > b.length) fail(`string of ${len} bytes past the end`);
    const from = at;
    at += len;
    return from;
  };
  while (at < b.length) {
    const klen = varint();
    const kat = span(klen);
    const key = b.toString('utf8', kat, kat + klen);
    const vlen = varint();
    const vat = span(vlen);
    const create = varint();
    const mod = varint();
    const lease = varint();
    each(key, b, vat, vlen, create, mod, lease === 0 ? undefined : lease);
    n++;
  }
  return n;
}
