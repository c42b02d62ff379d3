import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CodecError, countValues, decode, encode } from '../../src/util/codec.js';
import { MAX_MESSAGE_VALUES } from '../../src/transport/tcp.js';
import { checkProperty } from '../util/property.js';
import { fuzz } from './fuzz.js';

/** Values in a decoded msgpack value, counted the way countValues counts them. */
function count(v: unknown): number {
  if (Array.isArray(v)) return 1 + v.reduce((n: number, x) => n + count(x), 0);
  if (v instanceof Uint8Array) return 1;
  if (typeof v === 'object' && v !== null) return 1 + Object.values(v).reduce((n: number, x) => n + 1 + count(x), 0);
  return 1;
}

const values = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.maxSafeInteger(),
    fc.string({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 70_000 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 20 }),
    fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'), tie('value'), { maxKeys: 20 }),
  ),
})).value;

test('countValues counts what decode builds, without decoding', async (t) => {
  await fuzz(t, 'msgpack-count', () =>
    checkProperty(
      import.meta.url,
      fc.property(values, (v) => {
        const bytes = encode(v);
        assert.equal(countValues(bytes, Number.MAX_SAFE_INTEGER), count(decode(bytes)));
      }),
      { numRuns: 1000 },
    ),
  );
});

test('a frame of 3 MB of empty maps is refused before it is decoded (it would be ~200 MB of objects)', () => {
  const n = 3_000_000;
  const bytes = new Uint8Array(5 + n).fill(0x80); // array32 header, then n empty fixmaps
  bytes[0] = 0xdd;
  new DataView(bytes.buffer).setUint32(1, n);
  const before = process.memoryUsage().heapUsed;
  assert.throws(() => decode(bytes, { maxValues: MAX_MESSAGE_VALUES }), (e: unknown) => e instanceof CodecError && /more than 2000000 values/.test(e.message));
  assert.ok(process.memoryUsage().heapUsed - before < 50 * 1024 * 1024, 'nothing large was allocated');
  // The budget refuses only what is over it.
  const small = new Uint8Array(3 + 1000).fill(0x80); // array16 of 1000 empty maps
  small.set([0xdc, 0x03, 0xe8]);
  assert.equal((decode(small, { maxValues: MAX_MESSAGE_VALUES }) as unknown[]).length, 1000);
});
