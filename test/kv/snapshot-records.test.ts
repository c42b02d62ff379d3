/** The records of a version-3 KV snapshot (src/kv/snapshot-records.ts): written straight into the buffer, read back exactly; damage is named. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeCommand, type KvCommand } from '../../src/kv/commands.js';
import { RecordCursor, SnapshotBuffer, readRecordBytes } from '../../src/kv/snapshot-records.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { decodeAll, encode } from '../../src/util/codec.js';

/** `lease`: present only for a key attached to a lease. */
type SnapshotRecord = readonly [key: string, value: string, create: number, mod: number, lease?: number];

/** A cursor over records given as tuples. */
class TupleCursor extends RecordCursor {
  private value = '';
  private i = 0;

  constructor(private readonly records: readonly SnapshotRecord[]) {
    super();
  }

  advance(): boolean {
    const r = this.records[this.i++];
    if (r === undefined) return false;
    [this.key, this.value, this.create, this.mod] = r;
    this.lease = r[4] ?? 0;
    this.valueBytes = Buffer.byteLength(this.value, 'utf8');
    return true;
  }

  copyValue(target: Buffer, at: number): number {
    return target.write(this.value, at, 'utf8');
  }
}

function blocksOf(records: readonly SnapshotRecord[], per: number): Uint8Array {
  const out = new SnapshotBuffer(encode({ head: true }), 0);
  const cursor = new TupleCursor(records);
  while (out.appendFrom(cursor, per) === per);
  return out.bytes();
}

/** readRecordBytes with the values decoded. */
function readRecords(block: Uint8Array, each: (key: string, value: string, create: number, mod: number, lease: number | undefined) => void): number {
  return readRecordBytes(block, (key, b, at, len, create, mod, lease) => each(key, b.toString('utf8', at, at + len), create, mod, lease));
}

function readAll(bytes: Uint8Array): SnapshotRecord[] {
  const [head, ...blocks] = decodeAll(bytes);
  assert.deepEqual(head, { head: true });
  const got: SnapshotRecord[] = [];
  for (const b of blocks) {
    assert.ok(b instanceof Uint8Array, 'each block is one msgpack bin value');
    readRecords(b, (k, v, c, m, l) => got.push(l === undefined ? [k, v, c, m] : [k, v, c, m, l]));
  }
  return got;
}

test('records of any strings and revisions up to 2^53 come back exactly, whatever the block size, from a buffer that had to grow', () => {
  const record = fc.tuple(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }));
  fc.assert(
    fc.property(fc.array(record, { maxLength: 60 }), fc.integer({ min: 1, max: 7 }), (rs, per) => {
      const records = rs.map(([k, v, c, m, l]): SnapshotRecord => (l === undefined ? [k, v, c, m] : [k, v, c, m, l]));
      // Lone surrogates are not UTF-8: they come back as U+FFFD, as they would from any UTF-8 store.
      const expected = records.map(([k, v, ...rest]) => [Buffer.from(k).toString(), Buffer.from(v).toString(), ...rest]);
      assert.deepEqual(readAll(blocksOf(records, per)), expected);
    }),
  );
});

test('a truncated or damaged block is refused with the record and byte it failed at', () => {
  const bytes = blocksOf([['key', 'value', 300, 301], ['k2', 'v2', 5, 6, 7]], 10);
  const block = decodeAll(bytes)[1] as Uint8Array;
  assert.throws(() => readRecords(block.subarray(0, block.length - 1), () => {}), /snapshot record 1 of a block of \d+ bytes: truncated number at byte \d+/);
  const long = Uint8Array.from([3, 0x61, 0x62, 0x63, 100]);
  assert.throws(() => readRecords(long, () => {}), /snapshot record 0 of a block of 5 bytes: string of 100 bytes past the end at byte 5/);
  const endless = Uint8Array.from([1, 0x61, 1, 0x62, ...Array(9).fill(0xff)]);
  assert.throws(() => readRecords(endless, () => {}), /number too long/);
});

test('the store writes version 3 and still restores version 2 (records as msgpack arrays)', () => {
  const sm = new KvStateMachine();
  const put = (index: number, key: string, value: string): void => void sm.apply(encodeCommand({ op: 'put', key, value, time: 0 } as KvCommand), { index, term: 1 });
  put(1, 'a', 'A');
  put(2, 'b', 'B');
  put(3, 'a', 'A2');
  const snap = sm.snapshot();
  assert.equal((decodeAll(snap)[0] as { v: number }).v, 3);
  const copy = new KvStateMachine();
  copy.restore(snap, { index: 3, term: 1 });
  assert.equal(copy.digest(), sm.digest());
  assert.deepEqual(copy.list(''), sm.list(''));

  const v2 = new Uint8Array([...encode({ v: 2, now: 0, lastSweep: 0, revision: 3, sessions: [] }), ...encode([['a', 'A2', 1, 3], ['b', 'B', 2, 2]])]);
  const old = new KvStateMachine();
  old.restore(v2, { index: 3, term: 1 });
  assert.deepEqual(old.list(''), sm.list(''));
  assert.equal(old.sizeBytes, sm.sizeBytes);
});
