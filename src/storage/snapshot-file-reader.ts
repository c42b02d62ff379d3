import { crc32c } from '@node-rs/crc32';
import type { SnapshotBytes } from '../core/types.js';
import type { ReadHandle } from './fs.js';
import { WalCorruptionError, type SnapshotFileLayout } from './wal/record.js';

/**
 * A durable snapshot's data, read from its file a piece at a time, so the
 * Raft core can send it to followers without a copy of the state in memory.
 * Reads are synchronous (the core asks for a chunk as it sends it; a chunk is
 * a megabyte from the page cache). Each byte is checked against the file's
 * CRC the first time it is read, in order, and the piece that reaches the end
 * is handed out only if the whole file matched: a damaged file never reaches a
 * follower whole, the read throws {@link WalCorruptionError} instead.
 */
export class SnapshotFileReader implements SnapshotBytes {
  readonly length: number;
  /** The data bytes `[0, checked)` matched so far, and their running CRC. */
  private checked = 0;
  private crc: number;

  constructor(
    private readonly handle: ReadHandle,
    private readonly layout: SnapshotFileLayout,
    private readonly file: string,
  ) {
    this.length = layout.dataLength;
    this.crc = layout.headCrc;
  }

  /** Reads data bytes `[begin, end)` (clamped to the data, as `Uint8Array.subarray` does). */
  subarray(begin: number, end: number): Uint8Array {
    const to = Math.max(0, Math.min(end, this.length));
    const from = Math.max(0, Math.min(begin, to));
    if (to <= this.checked) return this.read(from, to);
    // Read the unchecked stretch as well, and check it before handing anything out.
    const start = Math.min(from, this.checked);
    const bytes = this.read(start, to);
    const crc = crc32c(bytes.subarray(this.checked - start), this.crc);
    if (to === this.length && crc !== this.layout.crc) {
      throw new WalCorruptionError(this.file, this.layout.dataOffset, `snapshot data matching the file's checksum (read back to send it)`);
    }
    this.crc = crc;
    this.checked = to;
    return bytes.subarray(from - start);
  }

  /** Closes the file; reading afterwards throws. */
  close(): void {
    this.handle.close();
  }

  private read(from: number, to: number): Uint8Array {
    return this.handle.read(this.layout.dataOffset + from, to - from);
  }
}
