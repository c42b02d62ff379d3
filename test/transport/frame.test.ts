import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { concatBytes as concat } from '../../src/util/bytes.js';
import { FRAME_HEADER_BYTES, FrameDecoder, FrameError, encodeFrame, frameHeader } from '../../src/transport/frame.js';
import { pattern } from './helpers.js';
import { checkProperty } from '../util/property.js';

/** Cuts `bytes` at the given offsets (any order, duplicates allowed). */
function cut(bytes: Uint8Array, at: readonly number[]): Uint8Array[] {
  const points = [...new Set(at.map((a) => a % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.slice(prev, p));
    prev = p;
  }
  return chunks;
}

/** Feeds chunks one at a time, collecting every frame as soon as it is complete. */
function feed(dec: FrameDecoder, chunks: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const c of chunks) {
    dec.push(c);
    for (let p = dec.next(); p !== null; p = dec.next()) out.push(p);
  }
  return out;
}

test('a frame is [length u32 LE][crc32c u32 LE][payload]', () => {
  const payload = new TextEncoder().encode('123456789');
  const f = encodeFrame(payload);
  assert.equal(f.length, FRAME_HEADER_BYTES + 9);
  const dv = new DataView(f.buffer);
  assert.equal(dv.getUint32(0, true), 9);
  // The CRC-32C check value for "123456789".
  assert.equal(dv.getUint32(4, true), 0xe3069283);
  assert.deepEqual(f.subarray(8), payload);
  assert.deepEqual(frameHeader(payload), f.subarray(0, 8));
});

test('frames round-trip through any split of the stream, split or coalesced', () => {
  checkProperty(
    import.meta.url,
    fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 30 }), (payloads, splits) => {
      const stream = concat(payloads.map(encodeFrame));
      const got = feed(new FrameDecoder(1000), cut(stream, splits));
      assert.deepEqual(got, payloads);
    }),
    { numRuns: 500 },
  );
});

test('a frame arriving one byte at a time is delivered once, when complete', () => {
  const payload = pattern(1000, 3);
  const f = encodeFrame(payload);
  const dec = new FrameDecoder();
  for (let i = 0; i < f.length - 1; i++) {
    dec.push(f.subarray(i, i + 1));
    assert.equal(dec.next(), null, `nothing before the last byte (at ${i})`);
  }
  dec.push(f.subarray(f.length - 1));
  assert.deepEqual(dec.next(), payload);
  assert.equal(dec.next(), null);
  assert.equal(dec.bufferedBytes, 0);
});

test('several frames in one chunk, with the start of the next, are delivered in order', () => {
  const ps = [pattern(5, 1), new Uint8Array(0), pattern(70_000, 2), pattern(3, 3)];
  const stream = concat(ps.map(encodeFrame));
  const dec = new FrameDecoder();
  const tail = 4;
  assert.deepEqual(feed(dec, [stream.subarray(0, stream.length - tail)]), ps.slice(0, 3));
  assert.equal(dec.bufferedBytes, FRAME_HEADER_BYTES + 3 - tail);
  assert.deepEqual(feed(dec, [stream.subarray(stream.length - tail)]), ps.slice(3));
});

test('payloads are copies, not views into the received chunks', () => {
  const chunk = encodeFrame(pattern(10, 1));
  const dec = new FrameDecoder();
  dec.push(chunk);
  const p = dec.next()!;
  assert.notEqual(p.buffer, chunk.buffer);
  assert.equal(p.byteLength, p.buffer.byteLength);
});

test('a header announcing more than the limit is rejected before its payload arrives', () => {
  const dec = new FrameDecoder(100);
  dec.push(encodeFrame(pattern(100, 1))); // exactly the limit: fine
  dec.push(frameHeader(pattern(101, 2))); // only the header of a larger one
  assert.deepEqual(dec.next(), pattern(100, 1));
  assert.throws(
    () => dec.next(),
    (e: unknown) => e instanceof FrameError && e.kind === 'too-large' && /101 bytes, above the limit of 100/.test(e.message),
  );
  // The decoder stays failed: nothing after a bad frame is trusted.
  dec.push(encodeFrame(pattern(1, 1)));
  assert.throws(() => dec.next(), FrameError);
});

test('a CRC mismatch anywhere in the frame is rejected and nothing of it is delivered', () => {
  checkProperty(
    import.meta.url,
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.array(fc.nat(), { maxLength: 5 }), (payload, pos, flip, splits) => {
      const good = encodeFrame(pattern(20, 9));
      const bad = encodeFrame(payload);
      // Corrupt the CRC or the payload (corrupting the length is a different failure).
      const i = 4 + (pos % (bad.length - 4));
      bad[i]! ^= flip;
      const dec = new FrameDecoder(1000);
      const got: Uint8Array[] = [];
      assert.throws(
        () => {
          for (const c of cut(concat([good, bad, encodeFrame(pattern(5, 5))]), splits)) {
            dec.push(c);
            for (let p = dec.next(); p !== null; p = dec.next()) got.push(p);
          }
        },
        (e: unknown) => e instanceof FrameError && e.kind === 'crc',
      );
      // The good frame before it was delivered; the bad one and everything after it were not.
      assert.deepEqual(got, [pattern(20, 9)]);
    }),
    { numRuns: 300 },
  );
});

test('the limit can be raised between frames (after a handshake) and applies to the next header', () => {
  const dec = new FrameDecoder(16);
  dec.push(concat([encodeFrame(pattern(10, 1)), encodeFrame(pattern(1000, 2))]));
  assert.deepEqual(dec.next(), pattern(10, 1));
  dec.maxFrameBytes = 2000;
  assert.deepEqual(dec.next(), pattern(1000, 2));
});
