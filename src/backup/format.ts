/**
 * The backup file: one consistent snapshot of a cluster's key-value state,
 * with what is needed to seed a new cluster from it and a checksum over all
 * of it.
 *
 * Layout (integers little-endian):
 *
 * ```
 * magic     8 bytes  "TSRAFTBK"
 * version   u32      1
 * headerLen u32      length of the header
 * header    JSON     { clusterId, index, term, members, createdAt }
 * dataLen   u64      length of the state machine snapshot
 * data      bytes    KvStateMachine.snapshot() at `index`
 * crc32c    u32      over every byte before it
 * ```
 *
 * A reader checks the length fields against the file's size before anything
 * else, so a truncated file is named as truncated, not as corrupt.
 */
import { crc32c } from '@node-rs/crc32';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

/** A member of the cluster when the backup was taken (for the record; a restore starts a new membership). */
export interface BackupMember {
  readonly name: string;
  readonly role: 'voter' | 'learner';
  /** Its Raft address (HOST:PORT), if known. */
  readonly peerAddress?: string | undefined;
  /** Its API URL, if known. */
  readonly apiUrl?: string | undefined;
}

/** A consistent snapshot of a cluster's state machine. */
export interface Backup {
  /** The cluster it was taken from. */
  readonly clusterId: string;
  /** The log index (the KV revision) the snapshot covers: every write acknowledged before the backup was requested is at or below it. */
  readonly index: number;
  /** The term of the entry at `index`. */
  readonly term: number;
  readonly members: readonly BackupMember[];
  /** When it was taken (ms since the epoch; informative only). */
  readonly createdAt: number;
  /** `KvStateMachine.snapshot()` at `index`. */
  readonly data: Uint8Array;
}

/** A file (or response) that is not a whole, intact backup of a version this program reads. */
export class BackupFormatError extends Error {
  override name = 'BackupFormatError';
}

export const BACKUP_MAGIC = 'TSRAFTBK';
export const BACKUP_VERSION = 1;
const MAGIC_BYTES = new TextEncoder().encode(BACKUP_MAGIC);
/** magic + version + headerLen. */
const PREFIX_BYTES = 16;
const DATA_LEN_BYTES = 8;
const CRC_BYTES = 4;
/** A header is a few member records: anything bigger is damage, not a header. */
const MAX_HEADER_BYTES = 16 << 20;

interface Header {
  clusterId: string;
  index: number;
  term: number;
  members: BackupMember[];
  createdAt: number;
}

/** Serializes a backup into the file format above. */
export function encodeBackup(b: Backup): Uint8Array {
  const header: Header = { clusterId: b.clusterId, index: b.index, term: b.term, members: b.members.map((m) => ({ ...m })), createdAt: b.createdAt };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const total = PREFIX_BYTES + headerBytes.length + DATA_LEN_BYTES + b.data.length + CRC_BYTES;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set(MAGIC_BYTES, 0);
  dv.setUint32(8, BACKUP_VERSION, true);
  dv.setUint32(12, headerBytes.length, true);
  out.set(headerBytes, PREFIX_BYTES);
  let off = PREFIX_BYTES + headerBytes.length;
  dv.setBigUint64(off, BigInt(b.data.length), true);
  off += DATA_LEN_BYTES;
  out.set(b.data, off);
  off += b.data.length;
  dv.setUint32(off, crc32c(out.subarray(0, off)), true);
  return out;
}

/**
 * Parses and verifies a backup. `source` (a file name or URL) starts every
 * error message. Refuses, with {@link BackupFormatError}: a wrong magic, an
 * unknown version, a truncated or over-long input, a checksum mismatch, a
 * malformed header.
 */
export function decodeBackup(bytes: Uint8Array, source: string): Backup {
  const fail = (what: string): never => {
    throw new BackupFormatError(`${source}: ${what}`);
  };
  if (bytes.length < MAGIC_BYTES.length) {
    // Too short even for the magic: say which, so an empty file is not called "not a backup".
    if (MAGIC_BYTES.subarray(0, bytes.length).every((b, i) => bytes[i] === b)) fail(`truncated: ${bytes.length} bytes, shorter than the ${PREFIX_BYTES}-byte file prefix`);
    fail('not a tsraft backup file (wrong magic)');
  }
  for (let i = 0; i < MAGIC_BYTES.length; i++) if (bytes[i] !== MAGIC_BYTES[i]) fail(`not a tsraft backup file (wrong magic; expected "${BACKUP_MAGIC}")`);
  if (bytes.length < PREFIX_BYTES) fail(`truncated: ${bytes.length} bytes, shorter than the ${PREFIX_BYTES}-byte file prefix`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== BACKUP_VERSION) fail(`unknown backup format version ${version} (this program reads version ${BACKUP_VERSION}; use the tsraft release that wrote it, or a newer one)`);
  const headerLen = dv.getUint32(12, true);
  if (headerLen > MAX_HEADER_BYTES) fail(`corrupt: header length ${headerLen} at offset 12 is implausible`);
  const dataLenAt = PREFIX_BYTES + headerLen;
  if (bytes.length < dataLenAt + DATA_LEN_BYTES) fail(`truncated: ${bytes.length} bytes, but the header alone needs ${dataLenAt + DATA_LEN_BYTES}`);
  const dataLen = dv.getBigUint64(dataLenAt, true);
  const expected = BigInt(dataLenAt + DATA_LEN_BYTES + CRC_BYTES) + dataLen;
  if (BigInt(bytes.length) < expected) fail(`truncated: ${bytes.length} bytes, expected ${expected} (header of ${headerLen} bytes, snapshot of ${dataLen} bytes, checksum)`);
  if (BigInt(bytes.length) > expected) fail(`corrupt: ${bytes.length} bytes, expected ${expected}: trailing bytes after the checksum, or a damaged length field`);
  const crcAt = bytes.length - CRC_BYTES;
  const want = dv.getUint32(crcAt, true);
  const got = crc32c(bytes.subarray(0, crcAt));
  if (want !== got) fail(`corrupt: checksum mismatch (stored crc32c ${hex(want)}, computed ${hex(got)})`);
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREFIX_BYTES, dataLenAt))) as Header;
  } catch (e) {
    return fail(`corrupt: the header is not valid JSON (${(e as Error).message})`);
  }
  checkHeader(header, fail);
  const dataAt = dataLenAt + DATA_LEN_BYTES;
  return {
    clusterId: header.clusterId,
    index: header.index,
    term: header.term,
    members: header.members,
    createdAt: header.createdAt,
    // A copy, and a plain Uint8Array even when the input is a Buffer.
    data: new Uint8Array(bytes.subarray(dataAt, crcAt)),
  };
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function checkHeader(h: Header, fail: (what: string) => never): void {
  if (typeof h !== 'object' || h === null) fail('corrupt: the header is not a JSON object');
  if (typeof h.clusterId !== 'string') fail('corrupt: the header has no clusterId');
  const nat = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!nat(h.index) || !nat(h.term)) fail('corrupt: the header has no valid index and term');
  if (!nat(h.createdAt)) fail('corrupt: the header has no valid createdAt');
  if (!Array.isArray(h.members) || !h.members.every((m) => typeof m === 'object' && m !== null && typeof m.name === 'string' && (m.role === 'voter' || m.role === 'learner'))) {
    fail('corrupt: the header has no valid member list');
  }
}

/**
 * Writes a backup file atomically: to `FILE.tmp`, fsynced, renamed over
 * `file`, and the directory fsynced, so `file` is either the old file or
 * the whole new one, even across a crash.
 */
export async function writeBackupFile(file: string, backup: Backup): Promise<number> {
  return writeFileAtomic(file, encodeBackup(backup));
}

/** Writes `bytes` to `file` atomically (see {@link writeBackupFile}); returns the size. */
export async function writeFileAtomic(file: string, bytes: Uint8Array): Promise<number> {
  const tmp = `${file}.tmp`;
  const fh = await fsp.open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
  const dir = await fsp.open(path.dirname(path.resolve(file)), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  return bytes.length;
}

/** Reads and verifies a backup file; see {@link decodeBackup} for what it refuses. */
export async function readBackupFile(file: string): Promise<Backup> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (e) {
    throw new BackupFormatError(`${file}: cannot read it: ${(e as Error).message}`);
  }
  return decodeBackup(bytes, file);
}
