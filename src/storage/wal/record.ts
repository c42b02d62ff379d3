import { crc32c } from '@node-rs/crc32';
import type { ConfState, Entry, EntryType, HardState, SnapshotMeta } from '../../core/types.js';
import { concatBytes } from '../../util/bytes.js';
import type { ReadHandle } from '../fs.js';

/**
 * WAL record framing: `[length u32][~length u32][crc32c u32][type u8][payload]`,
 * little endian. `length` counts the type byte and the payload, and the CRC
 * covers them. The length is stored twice (the second time inverted) so that a
 * damaged length is recognised as damage and never mistaken for a write cut
 * short at the end of the file. Payloads are fixed binary layouts (the WAL is
 * the product: its format is ours, written by hand, not a general codec's).
 *
 * Layouts are versioned by record type: a type's payload never changes; a new
 * layout gets a new type, and readers keep decoding every type ever written.
 * Decoding maps each type to its logical kind (a {@link WalRecord}).
 */
export const RecordType = {
  /**
   * First record of a segment written before preallocation (append-only
   * segments): its sequence number and the first entry index it was opened for.
   * Read, no longer written.
   */
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
  /**
   * First record of a preallocated segment: {@link SegmentHeader}'s fields and
   * the size the file was preallocated to (records never extend past it; the
   * file is exactly that long unless something cut it).
   */
  PreallocatedSegmentHeader: 6,
  /** {@link Snapshot} whose metadata carries the configuration in force. Written only when there is one. */
  SnapshotWithConf: 7,
  /** {@link SnapshotFile} whose metadata carries the configuration in force. Written only when there is one. */
  SnapshotFileWithConf: 8,
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
  out[12] = type;
  out.set(payload, HEADER_BYTES);
  writeFrameHeader(out, payload.length, crc32c(out.subarray(12)));
  return out;
}

/** The length (twice, the second inverted) and CRC of a frame whose type byte and payload `out` holds. */
function writeFrameHeader(out: Uint8Array, payloadLength: number, crc: number): void {
  const dv = new DataView(out.buffer, out.byteOffset, HEADER_BYTES);
  const len = payloadLength + 1;
  dv.setUint32(0, len, true);
  dv.setUint32(4, ~len >>> 0, true);
  dv.setUint32(8, crc, true);
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

/** How {@link scanRecords} reads a file. */
export interface ScanOptions {
  /**
   * The file is a preallocated segment: its records are followed by zeros up to
   * its end, and an all-zero record header ends the records (it is not a torn
   * tail). Default: whether the file starts with an intact
   * {@link RecordType.PreallocatedSegmentHeader}.
   */
  readonly preallocated?: boolean;
  /**
   * Only the simulator's 'truncate-on-corruption' canary sets this: damage
   * anywhere is then taken for the end of the log, the bug a careless engine has.
   */
  readonly stopAtCorruption?: boolean;
}

/**
 * Splits a file into records, checking every CRC. Damage confined to the last
 * record of the file (a record cut short by the end of the file, or the final
 * record failing its checks) is a torn write, reported as `tornAt`, when
 * `tornTailAllowed`; damage anywhere else throws {@link WalCorruptionError}.
 * (A preallocated file follows its own rule: see {@link scanPreallocated}.)
 * Never reads out of bounds and always terminates.
 */
export function scanRecords(bytes: Uint8Array, file: string, tornTailAllowed: boolean, opts: ScanOptions = {}): ScanResult {
  if (opts.preallocated ?? startsPreallocated(bytes)) return scanPreallocated(bytes, file, tornTailAllowed, opts.stopAtCorruption === true);
  const records: RawRecord[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  const torn = (at: number, expected: string): ScanResult => {
    if (tornTailAllowed) return { records, tornAt: at };
    throw new WalCorruptionError(file, at, expected);
  };
  const corrupt = (at: number, expected: string): ScanResult => {
    if (opts.stopAtCorruption === true) return { records, tornAt: at };
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

/** Whether the file starts with an intact preallocated segment header. */
function startsPreallocated(bytes: Uint8Array): boolean {
  const r = recordAt(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0);
  return 'end' in r && bytes[12] === RecordType.PreallocatedSegmentHeader;
}

/**
 * The record at `off`: its end, or what was expected there instead. Never
 * reads out of bounds.
 */
function recordAt(bytes: Uint8Array, dv: DataView, off: number): { end: number } | { expected: string } {
  const left = bytes.length - off;
  if (left < HEADER_BYTES) return { expected: `a ${HEADER_BYTES}-byte record header, found ${left} bytes` };
  const len = dv.getUint32(off, true);
  const check = dv.getUint32(off + 4, true);
  const crc = dv.getUint32(off + 8, true);
  if ((len ^ check) >>> 0 !== 0xffffffff) {
    if (allZero(bytes, off, off + HEADER_BYTES)) return { expected: 'a record or zeros up to the end of the segment, found a zero record header followed by data' };
    return { expected: `a record header whose length (${len}) matches its check copy (${~check >>> 0})` };
  }
  if (len === 0 || len > MAX_RECORD_BYTES) return { expected: `a record length between 1 and ${MAX_RECORD_BYTES}, found ${len}` };
  const end = off + 12 + len;
  if (end > bytes.length) return { expected: `a record of ${len} bytes, but the file ends after ${left - 12}` };
  const got = crc32c(bytes.subarray(off + 12, end));
  if (got !== crc) return { expected: `CRC32C ${hex(crc)}, computed ${hex(got)}` };
  return { end };
}

/**
 * {@link scanRecords} for a preallocated segment: records, then zeros to the
 * end. Damage is a torn tail (when allowed) exactly when no intact record
 * starts anywhere after it: whatever a crash left of an unsynced write, and
 * whatever a crash during the repair of one left, lies after every record that
 * was fsynced. An intact record after the damage means records that may have
 * been acknowledged lie behind it: corruption.
 */
function scanPreallocated(bytes: Uint8Array, file: string, tornTailAllowed: boolean, stopAtCorruption: boolean): ScanResult {
  const records: RawRecord[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dataEnd = nonZeroEnd(bytes);
  let off = 0;
  while (off < dataEnd) {
    const r = recordAt(bytes, dv, off);
    if ('end' in r) {
      records.push({ type: bytes[off + 12]!, payload: bytes.subarray(off + 13, r.end), offset: off, end: r.end });
      off = r.end;
      continue;
    }
    if ((tornTailAllowed && !intactRecordAfter(bytes, dv, off + 1, dataEnd)) || stopAtCorruption) return { records, tornAt: off };
    throw new WalCorruptionError(file, off, r.expected);
  }
  return { records, tornAt: undefined };
}

/** Whether an intact record starts at some offset in [from, to). Checks the CRC only where the two length copies agree. */
function intactRecordAfter(bytes: Uint8Array, dv: DataView, from: number, to: number): boolean {
  for (let at = from; at < to && at + HEADER_BYTES <= bytes.length; at++) {
    const len = dv.getUint32(at, true);
    if ((len ^ dv.getUint32(at + 4, true)) >>> 0 !== 0xffffffff || len === 0 || len > MAX_RECORD_BYTES || at + 12 + len > bytes.length) continue;
    if (crc32c(bytes.subarray(at + 12, at + 12 + len)) === dv.getUint32(at + 8, true)) return true;
  }
  return false;
}

const ZEROS = new Uint8Array(1 << 16);

/** Whether bytes[from, to) are all zero (compared natively, a chunk at a time: segments are large and mostly zeros). */
export function allZero(bytes: Uint8Array, from: number, to = bytes.length): boolean {
  for (let at = from; at < to; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, to - at);
    if (Buffer.compare(bytes.subarray(at, at + n), ZEROS.subarray(0, n)) !== 0) return false;
  }
  return true;
}

/** The offset just past the last non-zero byte (0 if all are zero). */
export function nonZeroEnd(bytes: Uint8Array): number {
  let to = bytes.length;
  while (to > 0) {
    const from = Math.max(0, to - ZEROS.length);
    if (!allZero(bytes, from, to)) {
      for (let i = to - 1; i >= from; i--) if (bytes[i] !== 0) return i + 1;
    }
    to = from;
  }
  return 0;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

// ---- payloads ------------------------------------------------------------------

/** A payload too short or malformed for its type. */
class PayloadError extends Error {}

// ignoreBOM: keep a leading U+FEFF as written (by default the decoder strips it: a string would not round-trip).
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8 = new TextEncoder();

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
  /** A non-negative safe integer (stored as float64). */
  num(): number {
    const v = this.numOrNone();
    if (v === -1) throw new PayloadError('bad integer -1');
    return v;
  }
  /** A non-negative safe integer, or -1 where a record says "none" (the hard state's vote). */
  numOrNone(): number {
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
  /** A UTF-8 string: `[length u32][bytes]`. */
  str(): string {
    try {
      return utf8Strict.decode(this.bytes(this.u32()));
    } catch (e) {
      if (e instanceof PayloadError) throw e;
      throw new PayloadError('a string that is not valid UTF-8');
    }
  }
  /** What is left of the payload. */
  rest(): Uint8Array {
    return this.bytes(this.b.length - this.off);
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
  /**
   * The size the segment file was preallocated to; absent in segments written
   * before preallocation (append-only: their size is wherever writing stopped).
   */
  readonly preallocated?: number | undefined;
}

/** A header of the layout its fields call for: preallocated, or (for tests and old data only) append-only. */
export function encodeSegmentHeader(h: SegmentHeader): Uint8Array {
  if (h.preallocated === undefined) return frame(RecordType.SegmentHeader, new Writer(16).num(h.seq).num(h.firstIndex).result());
  return frame(RecordType.PreallocatedSegmentHeader, new Writer(24).num(h.seq).num(h.firstIndex).num(h.preallocated).result());
}

/** Size of a framed preallocated segment header. */
export const PREALLOCATED_HEADER_BYTES = HEADER_BYTES + 24;

export function encodeHardState(hs: HardState): Uint8Array {
  return frame(RecordType.HardState, new Writer(24).num(hs.term).num(hs.vote ?? -1).num(hs.commit).result());
}

/** A snapshot marker. `reset`: the log after the snapshot was discarded (it did not hold the snapshot's last entry). */
export interface SnapshotMarker {
  readonly meta: SnapshotMeta;
  readonly reset: boolean;
}

/**
 * `[count u32][id]...` for voters, outgoing voters and learners, then
 * `[count u32]` and per context pair `[key string][value string]`.
 */
function confBytes(c: ConfState): number {
  let n = 16 + 8 * (c.voters.length + c.outgoing.length + c.learners.length);
  for (const [k, v] of Object.entries(c.context)) n += 8 + utf8.encode(k).length + utf8.encode(v).length;
  return n;
}

function writeConf(w: Writer, c: ConfState): Writer {
  for (const ids of [c.voters, c.outgoing, c.learners]) {
    w.u32(ids.length);
    for (const id of ids) w.num(id);
  }
  const ctx = Object.entries(c.context);
  w.u32(ctx.length);
  for (const [k, v] of ctx) {
    for (const s of [k, v]) {
      const b = utf8.encode(s);
      w.u32(b.length).bytes(b);
    }
  }
  return w;
}

function readConf(r: Reader): ConfState {
  const ids = (): number[] => {
    const n = r.u32();
    r.need(8 * n); // a damaged count must not make us loop for long
    return Array.from({ length: n }, () => r.num());
  };
  const voters = ids();
  const outgoing = ids();
  const learners = ids();
  const n = r.u32();
  r.need(8 * n);
  const pairs: [string, string][] = [];
  for (let i = 0; i < n; i++) pairs.push([r.str(), r.str()]);
  return { voters, outgoing, learners, context: Object.fromEntries(pairs) };
}

/** Meta as decoded: without a `conf` key at all when the record had none, so old and new records compare alike. */
function meta(index: number, term: number, conf: ConfState | undefined): SnapshotMeta {
  return conf === undefined ? { index, term } : { index, term, conf };
}

/** A marker in the oldest layout that holds its meta: without a configuration, {@link RecordType.Snapshot}. */
export function encodeSnapshotMarker(m: SnapshotMarker): Uint8Array {
  const conf = m.meta.conf;
  if (conf === undefined) return frame(RecordType.Snapshot, new Writer(17).num(m.meta.index).num(m.meta.term).u8(m.reset ? 1 : 0).result());
  const w = new Writer(17 + confBytes(conf)).num(m.meta.index).num(m.meta.term).u8(m.reset ? 1 : 0);
  return frame(RecordType.SnapshotWithConf, writeConf(w, conf).result());
}

/** `[firstIndex][count]` then per entry `[term][type u8][length u32][data]`. Entry types are not interpreted. */
export function encodeEntries(entries: readonly Entry[]): Uint8Array {
  let size = 12;
  for (const e of entries) size += 13 + e.data.length;
  const w = new Writer(size).num(entries[0]!.index).u32(entries.length);
  for (const e of entries) w.num(e.term).u8(e.type).u32(e.data.length).bytes(e.data);
  return frame(RecordType.Entries, w.result());
}

/** `[index][term]`, the configuration if there is one, then the data to the end. */
export function encodeSnapshotFile(m: SnapshotMeta, data: Uint8Array): Uint8Array {
  const f = new SnapshotFileFrame(m, data.length);
  f.update(data);
  return concatBytes([f.head(), data]);
}

/** Where a snapshot file's data lies, and what checks it (see {@link SnapshotFileFrame.layout}). */
export interface SnapshotFileLayout {
  /** The byte offset of the data in the file. */
  readonly dataOffset: number;
  readonly dataLength: number;
  /** The CRC the record must match: over its type byte, metadata and data. */
  readonly crc: number;
  /** The CRC over the type byte and metadata alone: where checking the data starts. */
  readonly headCrc: number;
}

/**
 * A snapshot file's record built in pieces, so that a snapshot of tens of
 * megabytes is written without copying it or checksumming it in one go: the
 * file is {@link head} (frame header and metadata) followed by the data as it
 * is. Feed the data to {@link update} in order; {@link head} is final once all
 * of it has been fed.
 */
export class SnapshotFileFrame {
  private readonly type: RecordType;
  private readonly meta: Uint8Array;
  private crc: number;
  private fed = 0;

  constructor(
    m: SnapshotMeta,
    private readonly dataLength: number,
  ) {
    this.type = m.conf === undefined ? RecordType.SnapshotFile : RecordType.SnapshotFileWithConf;
    const w = new Writer(16 + (m.conf === undefined ? 0 : confBytes(m.conf))).num(m.index).num(m.term);
    this.meta = (m.conf === undefined ? w : writeConf(w, m.conf)).result();
    // The CRC covers the type byte and the payload, as frame() computes it.
    this.crc = crc32c(this.meta, crc32c(Uint8Array.of(this.type)));
  }

  /**
   * Where a snapshot file's data lies and the checksum it must match, read
   * from the file's first {@link dataOffset} bytes, which must be those
   * {@link head} writes for `m`; throws {@link WalCorruptionError} otherwise.
   */
  static layout(m: SnapshotMeta, h: Pick<ReadHandle, 'size' | 'read'>, file: string): SnapshotFileLayout {
    const f = new SnapshotFileFrame(m, 0);
    const fileSize = h.size;
    if (fileSize < f.dataOffset) throw new WalCorruptionError(file, fileSize, `the ${f.dataOffset}-byte start of snapshot ${m.index}'s file`);
    const head = h.read(0, f.dataOffset);
    const dv = new DataView(head.buffer, head.byteOffset, HEADER_BYTES);
    const len = dv.getUint32(0, true);
    if (dv.getUint32(4, true) !== ~len >>> 0 || 12 + len !== fileSize) throw new WalCorruptionError(file, 0, `a record length matching the file's ${fileSize} bytes`);
    if (head[12] !== f.type || !f.meta.every((b, i) => head[HEADER_BYTES + i] === b)) throw new WalCorruptionError(file, 12, `the metadata of snapshot ${m.index} (term ${m.term})`);
    return { dataOffset: f.dataOffset, dataLength: fileSize - f.dataOffset, crc: dv.getUint32(8, true), headCrc: f.crc };
  }

  /** Where the data starts in the file. */
  get dataOffset(): number {
    return HEADER_BYTES + this.meta.length;
  }

  /** Checksums the next piece of the data. */
  update(piece: Uint8Array): void {
    this.crc = crc32c(piece, this.crc);
    this.fed += piece.length;
  }

  /** The frame header and the metadata: the file's first {@link dataOffset} bytes. */
  head(): Uint8Array {
    if (this.fed !== this.dataLength) throw new Error(`snapshot file frame: ${this.fed} of ${this.dataLength} data bytes checksummed`);
    const out = new Uint8Array(HEADER_BYTES + this.meta.length);
    out[12] = this.type;
    out.set(this.meta, HEADER_BYTES);
    writeFrameHeader(out, this.meta.length + this.dataLength, this.crc);
    return out;
  }
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
      case RecordType.PreallocatedSegmentHeader:
        rec = { type: RecordType.SegmentHeader, header: { seq: r.num(), firstIndex: r.num(), preallocated: r.num() } };
        break;
      case RecordType.HardState: {
        const term = r.num();
        const vote = r.numOrNone();
        rec = { type: RecordType.HardState, hardState: { term, vote: vote === -1 ? null : vote, commit: r.num() } };
        break;
      }
      case RecordType.Snapshot:
      case RecordType.SnapshotWithConf: {
        const index = r.num();
        const term = r.num();
        const flag = r.u8();
        if (flag > 1) throw new PayloadError(`bad reset flag ${flag}`);
        const conf = raw.type === RecordType.SnapshotWithConf ? readConf(r) : undefined;
        rec = { type: RecordType.Snapshot, marker: { meta: meta(index, term, conf), reset: flag === 1 } };
        break;
      }
      case RecordType.Entries: {
        const first = r.num();
        const count = r.u32();
        r.need(13 * count);
        const entries: Entry[] = [];
        for (let i = 0; i < count; i++) {
          const term = r.num();
          // Any type byte is kept as written: the log carries entry types it need not understand (ConfChange among them).
          const type = r.u8() as EntryType;
          const data = r.bytes(r.u32());
          entries.push({ index: first + i, term, type, data });
        }
        rec = { type: RecordType.Entries, entries };
        break;
      }
      case RecordType.SnapshotFile:
      case RecordType.SnapshotFileWithConf: {
        const index = r.num();
        const term = r.num();
        const conf = raw.type === RecordType.SnapshotFileWithConf ? readConf(r) : undefined;
        rec = { type: RecordType.SnapshotFile, meta: meta(index, term, conf), data: r.rest() };
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
