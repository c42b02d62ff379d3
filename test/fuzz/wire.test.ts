/**
 * Fuzzing what a peer can put on the wire: the frame decoder, the MessagePack
 * codec and message validation, with random bytes, random chunking and
 * mutated valid messages. Nothing may throw but the typed errors (FrameError,
 * CodecError, MessageValidationError), nothing may take long, a header never
 * makes the decoder allocate what it announces, and valid traffic round-trips.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MessageType, type Message } from '../../src/core/types.js';
import { FRAME_HEADER_BYTES, FrameDecoder, FrameError, encodeFrame } from '../../src/transport/frame.js';
import { MessageValidationError, validateMessage } from '../../src/transport/validate.js';
import { concatBytes } from '../../src/util/bytes.js';
import { Encoder } from '@msgpack/msgpack';
import { CodecError, decode } from '../../src/util/codec.js';
import { oneOfEach } from '../transport/helpers.js';
import { checkProperty } from '../util/property.js';
import { InputClock, fuzz } from './fuzz.js';

const U32_MAX = 0xffff_ffff;

/**
 * Builds inputs: the project's encoder refuses values nested deeper than 100,
 * but a peer need not use it, so inputs nested up to thousands deep are made
 * with a more permissive one.
 */
const inputEncoder = new Encoder({ ignoreUndefined: true, maxDepth: 100_000 });
const encode = (v: unknown): Uint8Array => inputEncoder.encode(v);

/** Cuts `bytes` into chunks at the given offsets (taken modulo its length). */
function chunks(bytes: Uint8Array, at: readonly number[]): Uint8Array[] {
  const points = [...new Set(at.map((a) => a % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.slice(prev, p));
    prev = p;
  }
  return out;
}

/** What a decoder made of a stream: the frames it delivered, and the FrameError that ended it, if any. */
interface Fed {
  readonly frames: Uint8Array[];
  readonly error: FrameError | null;
}

/**
 * Feeds chunks as a socket would, pulling frames after each, and checks the
 * decoder's contract on the way: only FrameError is thrown, it is thrown again
 * on every later call with nothing left buffered, no frame exceeds the limit,
 * and every pushed byte is either delivered, still buffered or part of a header.
 */
function feed(dec: FrameDecoder, parts: readonly Uint8Array[]): Fed {
  const frames: Uint8Array[] = [];
  let pushed = 0;
  let delivered = 0;
  for (const c of parts) {
    dec.push(c);
    pushed += c.length;
    try {
      for (let p = dec.next(); p !== null; p = dec.next()) {
        assert.ok(p.length <= dec.maxFrameBytes, `a frame of ${p.length} bytes passed the limit of ${dec.maxFrameBytes}`);
        frames.push(p);
        delivered += FRAME_HEADER_BYTES + p.length;
      }
    } catch (e) {
      assert.ok(e instanceof FrameError, `only FrameError may escape the decoder, got ${String(e)}`);
      assert.throws(() => dec.next(), (again: unknown) => again === e, 'a failed decoder keeps failing with the same error');
      assert.equal(dec.bufferedBytes, 0, 'a failed decoder lets its buffer go');
      return { frames, error: e };
    }
    // Bytes not yet delivered: at most one pending header (already consumed) plus what is buffered.
    const pending = pushed - delivered - dec.bufferedBytes;
    assert.ok(pending === 0 || pending === FRAME_HEADER_BYTES, `byte accounting: ${pushed} pushed, ${delivered} delivered, ${dec.bufferedBytes} buffered`);
  }
  return { frames, error: null };
}

/** A header announcing `length` bytes, with any CRC. */
function header(length: number, crc: number): Uint8Array {
  const h = new Uint8Array(FRAME_HEADER_BYTES);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, length, true);
  dv.setUint32(4, crc >>> 0, true);
  return h;
}

/** Pieces of a hostile stream: valid frames, raw junk, and headers announcing anything up to 4 GiB. */
const pieceArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((p) => encodeFrame(p)),
  fc.uint8Array({ maxLength: 64 }),
  fc.tuple(fc.oneof(fc.nat(1000), fc.constant(U32_MAX), fc.integer({ min: 0, max: U32_MAX })), fc.integer()).map(([l, c]) => header(l, c)),
);

test('fuzz frame-decoder: hostile streams in random chunks only ever give frames or a FrameError, quickly and within the limit', async (t) => {
  const clock = new InputClock(1000);
  await fuzz(t, 'frame-decoder', () =>
    checkProperty(
      import.meta.url,
      fc.property(fc.array(pieceArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), fc.oneof(fc.nat(400), fc.constant(U32_MAX)), (pieces, cuts, max) => {
        const stream = concatBytes(pieces);
        clock.time(`a stream of ${stream.length} bytes`, () => feed(new FrameDecoder(max), chunks(stream, cuts)));
      }),
      { numRuns: 3000 },
    ),
  );
  t.diagnostic(`fuzz frame-decoder: slowest input ${clock.slowest.toFixed(1)} ms`);
});

test('fuzz frame-roundtrip: valid frames in random chunks arrive whole, in order, byte for byte', async (t) => {
  await fuzz(t, 'frame-roundtrip', () =>
    checkProperty(
      import.meta.url,
      fc.property(fc.array(fc.uint8Array({ maxLength: 2000 }), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (payloads, cuts) => {
        const got = feed(new FrameDecoder(2000), chunks(concatBytes(payloads.map(encodeFrame)), cuts));
        assert.equal(got.error, null);
        assert.deepEqual(got.frames.map((f) => Buffer.from(f).toString('hex')), payloads.map((p) => Buffer.from(p).toString('hex')));
      }),
      { numRuns: 1000 },
    ),
  );
});

test('fuzz frame-bitflip: a flipped bit never delivers a changed frame; frames before it arrive, nothing after it', async (t) => {
  await fuzz(t, 'frame-bitflip', () =>
    checkProperty(
      import.meta.url,
      fc.property(fc.array(fc.uint8Array({ maxLength: 500 }), { minLength: 1, maxLength: 8 }), fc.nat(), fc.integer({ min: 0, max: 7 }), fc.array(fc.nat(), { maxLength: 10 }), (payloads, at, bit, cuts) => {
        const frames = payloads.map(encodeFrame);
        const stream = concatBytes(frames);
        const pos = at % stream.length;
        stream[pos]! ^= 1 << bit;
        // Which frame the flip is in, and whether it hit its length field.
        let k = 0;
        let start = 0;
        while (start + frames[k]!.length <= pos) start += frames[k++]!.length;
        const inLength = pos - start < 4;
        const got = feed(new FrameDecoder(1000), chunks(stream, cuts));
        assert.deepEqual(
          got.frames.map((f) => Buffer.from(f).toString('hex')),
          payloads.slice(0, k).map((p) => Buffer.from(p).toString('hex')),
          `flip at ${pos} (frame ${k}): exactly the frames before it`,
        );
        // A damaged CRC or payload is always caught; a damaged length is caught or leaves the decoder waiting for bytes that will never come.
        if (!inLength) assert.equal(got.error?.kind, 'crc');
      }),
      { numRuns: 2000 },
    ),
  );
});

test('a header announcing 4 GiB is refused before anything is allocated, and a raised limit still allocates nothing up front', () => {
  const before = process.memoryUsage().arrayBuffers;
  const refused = feed(new FrameDecoder(), [header(U32_MAX, 0), new Uint8Array(1000)]);
  assert.equal(refused.error?.kind, 'too-large');
  assert.match(refused.error.message, /frame announces 4294967295 bytes, above the limit of 67108864/);
  // Even with the limit at its u32 maximum, the decoder buffers what arrives and never what is announced.
  const dec = new FrameDecoder(U32_MAX);
  const waiting = feed(dec, [header(U32_MAX, 0), new Uint8Array(1 << 16)]);
  assert.deepEqual([waiting.frames.length, waiting.error, dec.bufferedBytes], [0, null, 1 << 16]);
  assert.ok(process.memoryUsage().arrayBuffers - before < 16 << 20, 'no buffer the size of the announced frame');
});

// ---- codec and message validation --------------------------------------------------------

test('decode throws CodecError, and only that, for every kind of bad MessagePack', () => {
  const cases: [string, number[]][] = [
    ['nothing', []],
    ['a cut array', [0x92, 0x01]],
    ['an array announcing 4 billion elements', [0xdd, 0xff, 0xff, 0xff, 0xff]],
    ['bytes announcing 4 GiB', [0xc6, 0xff, 0xff, 0xff, 0xff]],
    ['trailing bytes', [0x01, 0x02]],
    ['the reserved type byte', [0xc1]],
    ['a timestamp of a bad size', [0xd4, 0xff, 0x00]],
    ['a map key that is bytes', [0x81, 0xc4, 0x01, 0x00, 0x01]],
    ['a __proto__ key', [0x81, 0xa9, ...Buffer.from('__proto__'), 0x80]],
  ];
  for (const [what, bytes] of cases) {
    assert.throws(() => decode(Uint8Array.from(bytes)), (e: unknown) => e instanceof CodecError && /^not a MessagePack value: /.test(e.message), what);
  }
});

/** Values the decoder can produce, and some it cannot but a buggy encoder might. */
const evilNumbers = [-1, -(2 ** 53), 1.5, 0.1, Number.NaN, Infinity, -Infinity, 2 ** 53, 2 ** 64, Number.MAX_VALUE, 1e300];
const evilArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(...evilNumbers, null, true, false, '', '1', 'hello', [], {}, new Uint8Array(0)),
  fc.double(),
  fc.integer({ min: -(2 ** 31), max: -1 }),
  fc.string({ maxLength: 20 }),
  fc.uint8Array({ maxLength: 20 }),
  fc.array(fc.nat(5), { maxLength: 5 }),
  // Huge arrays, deep nesting, wide objects.
  fc.nat({ max: 100_000 }).map((n) => new Array<number>(n).fill(1)),
  fc.nat({ max: 2000 }).map((depth) => {
    let v: unknown = 1;
    for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { v };
    return v;
  }),
  fc.nat({ max: 2000 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))),
);

/** Valid messages of every type, with varied ids, terms and sizes. */
const messageArb: fc.Arbitrary<Message> = fc
  .tuple(fc.nat(1000), fc.nat(1000), fc.integer({ min: 1, max: 1_000_000 }), fc.nat(3000))
  .chain(([from, to, seed, snapBytes]) => fc.constantFrom(...oneOfEach(from, to, seed, snapBytes)));

/** Where a field sits in a message: a path of keys and array indexes. */
type Path = readonly (string | number)[];

/** Every path to a leaf or container in `x`, entries and metadata included. */
function paths(x: unknown, prefix: Path = []): Path[] {
  if (x === null || typeof x !== 'object' || x instanceof Uint8Array) return [];
  const out: Path[] = [];
  for (const [k, v] of Object.entries(x)) {
    const p = [...prefix, Array.isArray(x) ? Number(k) : k];
    out.push(p, ...paths(v, p));
  }
  return out;
}

/** A deep copy of a decoded-shape value (byte arrays are shared: nothing mutates them). */
function clone(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(clone);
  if (x !== null && typeof x === 'object' && !(x instanceof Uint8Array)) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, clone(v)]));
  return x;
}

function at(root: unknown, p: Path): { parent: Record<string | number, unknown>; key: string | number } {
  let parent = root as Record<string | number, unknown>;
  for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  return { parent, key: p[p.length - 1]! };
}

/** Fields a message may lack: `transfer` of a vote, `lease` of a read index, a snapshot's configuration. */
const OPTIONAL = new Set(['transfer', 'lease', 'conf']);

type Mutation = { kind: 'delete' } | { kind: 'replace'; value: unknown } | { kind: 'extra'; key: string; value: unknown };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant<Mutation>({ kind: 'delete' }),
  evilArb.map((value): Mutation => ({ kind: 'replace', value })),
  fc
    .tuple(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'toString', 'type', 'extra', 'hasOwnProperty'), fc.string({ maxLength: 10 })), evilArb)
    .map(([key, value]): Mutation => ({ kind: 'extra', key, value })),
);

/**
 * Whether the validator must refuse `original` at `p` changed by `m`: a
 * required field deleted, or a value replaced by one of another kind (a
 * number by anything but a non-negative safe integer, bytes by non-bytes, and
 * so on). Replacements it may accept (a number by another valid number) and
 * extra fields (dropped) are not forced either way.
 */
function mustRefuse(original: unknown, p: Path, m: Mutation, msgType: unknown): boolean {
  const key = p[p.length - 1]!;
  if (m.kind === 'extra') return false;
  // A configuration's context is a dictionary: any of its entries may go.
  if (m.kind === 'delete') return !(typeof key === 'string' && OPTIONAL.has(key)) && p[p.length - 2] !== 'context';
  const v = m.value;
  if (typeof original === 'number') {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) return true;
    const min = msgType === MessageType.ReadIndexResp && p.length === 1 && key === 'index' ? -1 : 0;
    // `type` fields name an enum: other numbers are refused, but which are valid is the validator's business.
    return v < min && key !== 'type';
  }
  if (typeof original === 'boolean') return typeof v !== 'boolean';
  if (original instanceof Uint8Array) return !(v instanceof Uint8Array);
  if (typeof original === 'string') return typeof v !== 'string';
  if (Array.isArray(original)) return !Array.isArray(v);
  return v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array;
}

/** What a validated message may look like: no unknown field, every number a safe integer in range. */
function assertClean(m: Message): void {
  const keys: Record<number, readonly string[]> = {
    [MessageType.Vote]: ['lastIndex', 'lastTerm', 'transfer'],
    [MessageType.VoteResp]: ['granted'],
    [MessageType.App]: ['prevIndex', 'prevTerm', 'entries', 'commit'],
    [MessageType.AppResp]: ['success', 'index', 'hintTerm', 'hintIndex'],
    [MessageType.Heartbeat]: ['commit', 'ctx'],
    [MessageType.HeartbeatResp]: ['ctx'],
    [MessageType.Snap]: ['meta', 'offset', 'data', 'size'],
    [MessageType.SnapResp]: ['snapIndex', 'offset', 'done', 'index'],
    [MessageType.ReadIndex]: ['ctx', 'lease'],
    [MessageType.ReadIndexResp]: ['ctx', 'index'],
    [MessageType.Prop]: ['data'],
    [MessageType.PreVote]: ['lastIndex', 'lastTerm'],
    [MessageType.PreVoteResp]: ['granted'],
    [MessageType.TimeoutNow]: ['lastIndex'],
  };
  const allowed = new Set(['type', 'term', 'from', 'to', ...keys[m.type]!]);
  for (const k of Object.keys(m)) assert.ok(allowed.has(k), `field ${k} does not belong in a message of type ${m.type}`);
  const walk = (x: unknown, where: string): void => {
    if (typeof x === 'number') assert.ok(Number.isSafeInteger(x) && x >= -1, `${where} is ${x}`);
    else if (Array.isArray(x)) x.forEach((v, i) => walk(v, `${where}[${i}]`));
    else if (x !== null && typeof x === 'object' && !(x instanceof Uint8Array)) for (const [k, v] of Object.entries(x)) walk(v, `${where}.${k}`);
  };
  walk(m, 'message');
  assert.deepEqual(validateMessage(m), m, 'validation is idempotent');
}

/** Decodes and validates as the transport does; returns the message or the typed error. */
function receive(bytes: Uint8Array): Message | CodecError | MessageValidationError {
  let decoded: unknown;
  try {
    decoded = decode(bytes);
  } catch (e) {
    assert.ok(e instanceof CodecError, `decode threw ${String(e)}`);
    return e;
  }
  try {
    const m = validateMessage(decoded);
    assertClean(m);
    return m;
  } catch (e) {
    assert.ok(e instanceof MessageValidationError, `validateMessage threw ${String(e)}`);
    return e;
  }
}

test('fuzz message-mutation: a mutated valid message is refused with MessageValidationError naming the field, or accepted clean', async (t) => {
  const clock = new InputClock(1000);
  let refused = 0;
  await fuzz(t, 'message-mutation', () =>
    checkProperty(
      import.meta.url,
      fc.property(messageArb, fc.nat(), mutationArb, (m, pick, mutation) => {
        const copy = clone(m) as Record<string, unknown>;
        const ps = paths(copy);
        const p = ps[pick % ps.length]!;
        const { parent, key } = at(copy, p);
        const original = parent[key];
        if (mutation.kind === 'delete') delete parent[key];
        else if (mutation.kind === 'replace') parent[key] = mutation.value;
        // defineProperty: an extra `__proto__` must be an own field, as a decoder would make it.
        else Object.defineProperty(parent, mutation.kind === 'extra' ? mutation.key : key, { value: mutation.value, enumerable: true, writable: true, configurable: true });
        const must = mustRefuse(original, p, mutation, m.type);
        // Straight to the validator, and through the codec as it arrives from a peer.
        for (const input of [copy, (): unknown => receive(encode(copy))]) {
          const out = clock.time(`a ${mutation.kind} at ${p.join('.')}`, () => {
            if (typeof input === 'function') return input() as unknown;
            try {
              const v = validateMessage(input);
              assertClean(v);
              return v;
            } catch (e) {
              assert.ok(e instanceof MessageValidationError, `validateMessage threw ${String(e)}`);
              return e;
            }
          });
          if (must) {
            assert.ok(out instanceof MessageValidationError, `a ${mutation.kind} at ${p.join('.')} must be refused, got ${JSON.stringify(out, (_k, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v))}`);
            // The error names the field (or a field on the way to it, for a container that became something else).
            const named = out.field;
            const want = p.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('').replace(/^\./, '').replace(/\.\[/g, '[');
            assert.ok(want.startsWith(named) || named.startsWith(want), `refusal names ${JSON.stringify(named)}, expected ${JSON.stringify(want)}`);
          }
          if (out instanceof MessageValidationError) refused++;
        }
      }),
      { numRuns: 2500 },
    ),
  );
  t.diagnostic(`fuzz message-mutation: ${refused} refusals, slowest input ${clock.slowest.toFixed(1)} ms`);
});

/** Objects shaped like messages: known keys with random values, to reach the validator's inner checks. */
const KEYS = ['type', 'term', 'from', 'to', 'lastIndex', 'lastTerm', 'transfer', 'lease', 'granted', 'prevIndex', 'prevTerm', 'entries', 'commit', 'success', 'index', 'hintTerm', 'hintIndex', 'ctx', 'meta', 'offset', 'data', 'size', 'snapIndex', 'done'];
const fieldValueArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: fc.nat(20) },
  { weight: 2, arbitrary: evilArb },
  { weight: 1, arbitrary: fc.array(fc.record({ index: fc.nat(20), term: fc.nat(20), type: fc.nat(4), data: fc.uint8Array({ maxLength: 4 }) }), { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.record({ index: fc.nat(20), term: fc.nat(20), conf: fc.record({ voters: fc.array(fc.nat(9)), outgoing: fc.array(fc.nat(9)), learners: fc.array(evilArb, { maxLength: 2 }), context: fc.dictionary(fc.string(), fc.oneof(fc.string(), evilArb)) }) }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.array(fc.uint8Array({ maxLength: 4 }), { maxLength: 3 }) },
);
const shapedArb = fc.dictionary(fc.constantFrom(...KEYS), fieldValueArb, { maxKeys: KEYS.length });

test('fuzz codec-validate: random bytes and random values through decode and validateMessage give a clean message or a typed error', async (t) => {
  const clock = new InputClock(1000);
  const outcomes = { codec: 0, invalid: 0, accepted: 0 };
  await fuzz(t, 'codec-validate', () =>
    checkProperty(
      import.meta.url,
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          // Valid MessagePack of arbitrary values, whole or cut or with a flipped byte.
          fc.tuple(fc.oneof(fc.anything({ withTypedArray: false, maxDepth: 4 }), shapedArb, evilArb), fc.nat(), fc.nat(255)).map(([v, cut, flip]) => {
            const b = encode(v);
            if (flip % 3 === 0 && b.length > 0) b[cut % b.length]! ^= flip;
            return flip % 3 === 1 ? b.subarray(0, cut % (b.length + 1)) : b;
          }),
          shapedArb.map((v) => encode(v)),
        ),
        (bytes) => {
          const out = clock.time(`${bytes.length} bytes`, () => receive(bytes));
          if (out instanceof CodecError) outcomes.codec++;
          else if (out instanceof MessageValidationError) outcomes.invalid++;
          else outcomes.accepted++;
        },
      ),
      { numRuns: 3000 },
    ),
  );
  t.diagnostic(`fuzz codec-validate: ${outcomes.codec} not MessagePack, ${outcomes.invalid} refused, ${outcomes.accepted} accepted; slowest ${clock.slowest.toFixed(1)} ms`);
});

test('fuzz message-roundtrip: valid messages of every type survive encode, frame, random chunking, decode and validation unchanged', async (t) => {
  await fuzz(t, 'message-roundtrip', () =>
    checkProperty(
      import.meta.url,
      fc.property(fc.array(messageArb, { minLength: 1, maxLength: 10 }), fc.array(fc.nat(), { maxLength: 10 }), (msgs, cuts) => {
        const got = feed(new FrameDecoder(), chunks(concatBytes(msgs.map((m) => encodeFrame(encode(m)))), cuts));
        assert.equal(got.error, null);
        assert.deepEqual(
          got.frames.map((f) => receive(f)),
          msgs,
        );
      }),
      { numRuns: 300 },
    ),
  );
});
