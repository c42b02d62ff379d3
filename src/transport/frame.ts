import { crc32c } from '@node-rs/crc32';

/**
 * Stream framing for the TCP transport: every frame is
 * `[length u32 LE][crc32c u32 LE of payload][payload]`, where `length` is the
 * payload's length in bytes (the 8-byte header is not counted).
 *
 * TCP delivers a byte stream, not messages: one `data` chunk may hold part of
 * a frame or several frames, so the decoder buffers until a frame is whole.
 * The CRC guards against bugs and against a peer that is not speaking this
 * protocol at all (TCP's own checksum is weak, but the main point is to fail
 * loudly instead of decoding garbage).
 */

/** Bytes in a frame header: length and CRC. */
export const FRAME_HEADER_BYTES = 8;

/** Default largest payload a peer may announce: 64 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** The largest length the u32 header can hold. */
const U32_MAX = 0xffff_ffff;

/** Why a byte stream is not a valid sequence of frames. The connection cannot be resynchronised after one. */
export class FrameError extends Error {
  override name = 'FrameError';
  constructor(
    /** `too-large`: the header announces more than the limit; `crc`: the payload does not match its checksum. */
    readonly kind: 'too-large' | 'crc',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The 8-byte header for `payload`. Kept separate from the payload so a sender
 * can write both without copying a possibly large payload into a new buffer.
 */
export function frameHeader(payload: Uint8Array): Uint8Array {
  if (payload.length > U32_MAX) throw new RangeError(`payload of ${payload.length} bytes does not fit a u32 length`);
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  const dv = new DataView(header.buffer);
  dv.setUint32(0, payload.length, true);
  dv.setUint32(4, crc32c(payload), true);
  return header;
}

/** One whole frame (header and payload) in a single buffer. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  out.set(frameHeader(payload), 0);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Reassembles frames from arbitrary chunks of a byte stream. Feed chunks with
 * {@link push}, then call {@link next} until it returns null.
 *
 * Pulling frames one at a time (rather than returning all frames of a chunk at
 * once) lets the caller stop in the middle of a chunk, e.g. once it has closed
 * the connection, and lets it raise {@link maxFrameBytes} after a handshake:
 * the limit is checked when a header is read, not when a chunk arrives.
 *
 * Each returned payload is a fresh copy, never a view into a received chunk:
 * decoded messages keep views into their payload (msgpack byte strings are
 * subarrays), and a view into a 64 KiB socket chunk would keep the whole chunk
 * alive for as long as the log holds the entry.
 */
export class FrameDecoder {
  /** Received bytes not yet consumed; the first one starts at {@link headOffset}. */
  private readonly chunks: Uint8Array[] = [];
  private headOffset = 0;
  private buffered = 0;
  /** Payload length and CRC of the frame whose header has been read, if any. */
  private pending: { length: number; crc: number } | null = null;
  private failed: FrameError | null = null;

  /**
   * @param maxFrameBytes The largest payload accepted. May be changed between
   *   calls to {@link next}; it applies to headers read after the change.
   */
  constructor(public maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /** Bytes received and not yet returned as frames. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Appends a chunk of the stream. The decoder keeps a reference: the caller must not reuse the memory. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /**
   * The next complete payload, or null if more bytes are needed.
   * @throws {@link FrameError} if the stream is not valid framing; every later call throws it again.
   */
  next(): Uint8Array | null {
    if (this.failed !== null) throw this.failed;
    if (this.pending === null) {
      if (this.buffered < FRAME_HEADER_BYTES) return null;
      const header = this.take(FRAME_HEADER_BYTES);
      const dv = new DataView(header.buffer, header.byteOffset, header.byteLength);
      const length = dv.getUint32(0, true);
      const crc = dv.getUint32(4, true);
      if (length > this.maxFrameBytes) {
        return this.fail(new FrameError('too-large', `frame announces ${length} bytes, above the limit of ${this.maxFrameBytes}`));
      }
      this.pending = { length, crc };
    }
    const { length, crc } = this.pending;
    if (this.buffered < length) return null;
    const payload = this.take(length);
    this.pending = null;
    const got = crc32c(payload);
    if (got !== crc) return this.fail(new FrameError('crc', `frame of ${length} bytes has CRC32C ${hex(got)}, header says ${hex(crc)}`));
    return payload;
  }

  private fail(err: FrameError): never {
    this.failed = err;
    // Nothing after a bad header can be trusted; let the memory go.
    this.chunks.length = 0;
    this.buffered = 0;
    throw err;
  }

  /** Removes the first `n` buffered bytes (n <= buffered) into a new array. */
  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0]!;
      const avail = head.length - this.headOffset;
      const k = Math.min(avail, n - filled);
      out.set(head.subarray(this.headOffset, this.headOffset + k), filled);
      filled += k;
      if (k === avail) {
        this.chunks.shift();
        this.headOffset = 0;
      } else {
        this.headOffset += k;
      }
    }
    this.buffered -= n;
    return out;
  }
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
