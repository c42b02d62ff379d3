import { crc32c } from '@node-rs/crc32';
import type { ConfState, Entry, EntryType, HardState, SnapshotMeta } from '../../core/types.js';

/**
 * WAL record framing: `[length u32][~length u32][crc32c u32][type u8][payload]`,
 * little endian. `length` counts the type byte and the payload, and the CRC
 * covers them. The length is stored twice (the second time inverted) so that a
 * damaged length is recognised as damage and never mistaken for a write cut
 * short at the end of the file. Payloads are fixed binary layouts (the WAL is
 * the product: its format is ours, written by hand, not a general codec's).
 */
export const RecordType = {
  /** First record of every segment: its sequence number and the first entry index it was opened for. */
  SegmentHeader: 1,
  /** A batch of consecutive entries; the first may overwrite (truncate) from its index on. */
  Entries: 2,
  HardState: 3,
  /**
   * A snapshot (stored in its own file) now covers the log up to its index;
   * `reset` says whether the entries after it were dropped too (Figure 13).
   */
  Snapshot: 4,
  /** The single record of a snapshot file: metadata and data. */
  SnapshotFile: 5,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export const HEADER_BYTES = 13;
/** A record longer than this is taken for corruption, not allocated. */
export const MAX_RECORD_BYTES = 1 << 30;

/** A WAL or snapshot file is damaged where it must not be. */
export class WalCorruptionError extends Error {
  override name = 'WalCorruptionError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly expected: string,
  ) {
    super(`${file}: corrupt at byte offset ${offset}: expected ${expected}`);
  }
}

/** Frames one record. */
export function frame(type: RecordType, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  const dv = new DataView(out.buffer);
  const len = payload.length + 1;
  dv.setUint32(0, len, true);
  dv.setUint32(4, ~len >>> 0, true);
  out[12] = type;
  out.set(payload, HEADER_BYTES);
  dv.setUint32(8, crc32c(out.subarray(12)), true);
  return out;
}

/** One decoded-frame view into a file's bytes. */
export interface RawRecord {
  readonly type: number;
  readonly payload: Uint8Array;
  /** Offset of the record's first byte in its file. */
  readonly offset: number;
  /** Offset just past it. */
  readonly end: number;
}

/** The result of scanning a file: its intact records and, if the tail was torn, where. */
export interface ScanResult {
  readonly records: RawRecord[];
  /** Offset of a torn final record (a partial write at the very end), if any. */
  readonly tornAt: number | undefined;
}

/**
 * Splits a file into records, checking every CRC. Damage confined to the last
 * record of the file (a record cut short by the end of the file, or the final
 * record failing its checks) is a torn write, reported as `tornAt`, when
 * `tornTailAllowed`; damage anywhere else throws {@link WalCorruptionError}.
 * Never reads out of bounds and always terminates.
 */
export function scanRecords(bytes: Uint8Array, file: string, tornTailAllowed: boolean, stopAtCorruption = false): ScanResult {
  const records: RawRecord[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  const torn = (at: number, expected: string): ScanResult => {
    if (tornTailAllowed) return { records, tornAt: at };
    throw new WalCorruptionError(file, at, expected);
  };
  // Only the simulator's 'truncate-on-corruption' canary passes stopAtCorruption: damage
  // anywhere is then taken for the end of the log, the bug a careless engine has.
  const corrupt = (at: number, expected: string): ScanResult => {
    if (stopAtCorruption) return { records, tornAt: at };
    throw new WalCorruptionError(file, at, expected);
  };
  while (off < bytes.length) {
    const left = bytes.length - off;
    if (left < HEADER_BYTES) {
      return allZero(bytes, off) || tornTailAllowed ? torn(off, `a ${HEADER_BYTES}-byte record header, found ${left} bytes`) : torn(off, 'a record header');
    }
    const len = dv.getUint32(off, true);
    const check = dv.getUint32(off + 4, true);
    const crc = dv.getUint32(off + 8, true);
    if (len === 0 && check === 0 && allZero(bytes, off)) return torn(off, 'a record, found zero bytes up to the end');
    if ((len ^ check) >>> 0 !== 0xffffffff) {
      // The header is damaged. It is the last record's only if one of the two length copies
      // makes a record that ends exactly at the end of the file and passes its CRC.
      const alt = ~check >>> 0;
      for (const l of [len, alt]) {
        if (l >= 1 && off + 12 + l === bytes.length && crc32c(bytes.subarray(off + 12)) === crc) return torn(off, 'an intact header in the last record');
      }
      return corrupt(off, `a record header whose length (${len}) matches its check copy (${alt})`);
    }
    if (len === 0 || len > MAX_RECORD_BYTES) return corrupt(off, `a record length between 1 and ${MAX_RECORD_BYTES}, found ${len}`);
    const end = off + 12 + len;
    if (end > bytes.length) return torn(off, `a record of ${len} bytes, but the file ends after ${left - 12}`);
    const body = bytes.subarray(off + 12, end);
    const got = crc32c(body);
    if (got !== crc) {
      if (end === bytes.length) return torn(off, `CRC32C ${hex(crc)} of the last record, computed ${hex(got)}`);
      return corrupt(off, `CRC32C ${hex(crc)}, computed ${hex(got)}`);
    }
    records.push({ type: body[0]!, payload: body.subarray(1), offset: off, end });
    off = end;
  }
  return { records, tornAt: undefined };
}

function allZero(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

// ---- payloads ------------------------------------------------------------------

/** A payload too short or malformed for its type. */
class PayloadError extends Error {}

class Reader {
  private off = 0;
  private readonly dv: DataView;
  constructor(private readonly b: Uint8Array) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  need(n: number): void {
    if (this.off + n > this.b.length) throw new PayloadError(`payload ends at ${this.b.length}, needed ${this.off + n}`);
  }
  u8(): number {
    this.need(1);
    return this.b[this.off++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.dv.getUint32(this.off, true);
    this.off += 4;
    return v;
  }
  /** A non-negative safe integer stored as float64. */
  num(): number {
    this.need(8);
    const v = this.dv.getFloat64(this.off, true);
    this.off += 8;
    if (!Number.isSafeInteger(v) || v < -1) throw new PayloadError(`bad integer ${v}`);
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  done(): void {
    if (this.off !== this.b.length) throw new PayloadError(`${this.b.length - this.off} trailing bytes`);
  }
}

class Writer {
  private buf: Uint8Array;
  private dv: DataView;
  private off = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.dv = new DataView(this.buf.buffer);
  }
  u8(v: number): this {
    this.buf[this.off++] = v;
    return this;
  }
  u32(v: number): this {
    this.dv.setUint32(this.off, v, true);
    this.off += 4;
    return this;
  }
  num(v: number): this {
    this.dv.setFloat64(this.off, v, true);
    this.off += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.buf.set(b, this.off);
    this.off += b.length;
    return this;
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.off);
  }
}

export interface SegmentHeader {
  readonly seq: number;
  readonly firstIndex: number;
}

export function encodeSegmentHeader(h: SegmentHeader): Uint8Array {
  return frame(RecordType.SegmentHeader, new Writer(16).num(h.seq).num(h.firstIndex).result());
}

export function encodeHardState(hs: HardState): Uint8Array {
  return frame(RecordType.HardState, new Writer(24).num(hs.term).num(hs.vote ?? -1).num(hs.commit).result());
}

/** A snapshot marker. `reset`: the log after the snapshot was discarded (it did not hold the snapshot's last entry). */
export interface SnapshotMarker {
  readonly meta: SnapshotMeta;
  readonly reset: boolean;
}

/**
 * `[index][term][reset u8]`, then, if the snapshot carries a configuration,
 * `[length u32][JSON]` (a marker without it, as written before membership
 * changes existed, still reads).
 */
export function encodeSnapshotMarker(m: SnapshotMarker): Uint8Array {
  const conf = m.meta.conf === undefined ? null : new TextEncoder().encode(JSON.stringify(m.meta.conf));
  const w = new Writer(17 + (conf === null ? 0 : 4 + conf.length)).num(m.meta.index).num(m.meta.term).u8(m.reset ? 1 : 0);
  if (conf !== null) w.u32(conf.length).bytes(conf);
  return frame(RecordType.Snapshot, w.result());
}

/** `[firstIndex][count]` then per entry `[term][type u8][length u32][data]`. */
export function encodeEntries(entries: readonly Entry[]): Uint8Array {
  let size = 12;
  for (const e of entries) size += 13 + e.data.length;
  const w = new Writer(size).num(entries[0]!.index).u32(entries.length);
  for (const e of entries) w.num(e.term).u8(e.type).u32(e.data.length).bytes(e.data);
  return frame(RecordType.Entries, w.result());
}

export function encodeSnapshotFile(meta: SnapshotMeta, data: Uint8Array): Uint8Array {
  return frame(RecordType.SnapshotFile, new Writer(16 + data.length).num(meta.index).num(meta.term).bytes(data).result());
}

/** A decoded record. */
export type WalRecord =
  | { readonly type: typeof RecordType.SegmentHeader; readonly header: SegmentHeader }
  | { readonly type: typeof RecordType.Entries; readonly entries: Entry[] }
  | { readonly type: typeof RecordType.HardState; readonly hardState: HardState }
  | { readonly type: typeof RecordType.Snapshot; readonly marker: SnapshotMarker }
  | { readonly type: typeof RecordType.SnapshotFile; readonly meta: SnapshotMeta; readonly data: Uint8Array };

/**
 * Decodes a record whose CRC already matched. A payload that does not fit its
 * type (a bug, or damage the CRC missed) throws {@link WalCorruptionError}.
 * Entry data are views into the file's bytes, not copies.
 */
export function decodeRecord(raw: RawRecord, file: string): WalRecord {
  const r = new Reader(raw.payload);
  try {
    let rec: WalRecord;
    switch (raw.type) {
      case RecordType.SegmentHeader:
        rec = { type: RecordType.SegmentHeader, header: { seq: r.num(), firstIndex: r.num() } };
        break;
      case RecordType.HardState: {
        const term = r.num();
        const vote = r.num();
        rec = { type: RecordType.HardState, hardState: { term, vote: vote === -1 ? null : vote, commit: r.num() } };
        break;
      }
      case RecordType.Snapshot: {
        const index = r.num();
        const term = r.num();
        const flag = r.u8();
        if (flag > 1) throw new PayloadError(`bad reset flag ${flag}`);
        const conf = raw.payload.length > 17 ? decodeConf(r.bytes(r.u32())) : undefined;
        rec = { type: RecordType.Snapshot, marker: { meta: conf === undefined ? { index, term } : { index, term, conf }, reset: flag === 1 } };
        break;
      }
      case RecordType.Entries: {
        const first = r.num();
        const count = r.u32();
        const entries: Entry[] = [];
        for (let i = 0; i < count; i++) {
          const term = r.num();
          const type = r.u8() as EntryType;
          const data = r.bytes(r.u32());
          entries.push({ index: first + i, term, type, data });
        }
        rec = { type: RecordType.Entries, entries };
        break;
      }
      case RecordType.SnapshotFile: {
        const index = r.num();
        const term = r.num();
        const data = r.bytes(raw.payload.length - 16);
        rec = { type: RecordType.SnapshotFile, meta: { index, term }, data };
        break;
      }
      default:
        throw new PayloadError(`unknown record type ${raw.type}`);
    }
    r.done();
    return rec;
  } catch (e) {
    if (e instanceof PayloadError) throw new WalCorruptionError(file, raw.offset, `a well-formed record (${e.message})`);
    throw e;
  }
}

/** The configuration a snapshot marker carries (JSON of a ConfState). */
function decodeConf(b: Uint8Array): ConfState {
  let c: Partial<ConfState>;
  try {
    c = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b)) as Partial<ConfState>;
  } catch {
    throw new PayloadError('a snapshot configuration that is not JSON');
  }
  if (!Array.isArray(c.voters) || !Array.isArray(c.outgoing) || !Array.isArray(c.learners) || typeof c.context !== 'object' || c.context === null) {
    throw new PayloadError('a snapshot configuration without voters, outgoing, learners and context');
  }
  return { voters: c.voters, outgoing: c.outgoing, learners: c.learners, context: c.context };
}
