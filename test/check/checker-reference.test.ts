import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { checkHistory, type HistoryOp, type PartitionResult } from '../../src/check/index.js';
import { parseJepsenEtcdLog, parseJepsenKvLog } from '../../src/check/jepsen-logs.js';
import { SeededRandom, type Random } from '../../src/util/random.js';
import { referenceCheck } from './reference-checker.js';

const VALUES = ['a', 'b', 'ab', 'ba', 'c'];

/**
 * Overlapping operations on a few keys with few distinct values (so states
 * repeat and the memo is exercised), executed sequentially at a point inside
 * each interval; then some outputs are corrupted, and some operations get an
 * unknown or failed outcome. Linearizable or not, by chance.
 */
function randomHistory(r: Random): HistoryOp[] {
  const n = 2 + r.int(40);
  const keys = 1 + r.int(3);
  const clients = 2 + r.int(5);
  const state = new Map<string, string | null>();
  const busy = new Array<number>(clients).fill(0);
  const corrupt = r.int(2) === 0 ? 0.15 : 0;
  const out: HistoryOp[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    t += r.int(3);
    const key = `k${r.int(keys)}`;
    const client = r.int(clients);
    const call = Math.max(busy[client]! + 1, t - r.int(10));
    const lin = Math.max(t, call);
    const ret = lin + r.int(10);
    busy[client] = ret;
    t = lin;
    const cur = state.get(key) ?? null;
    const pick = (): string => VALUES[r.int(VALUES.length)]!;
    const lie = r.int(1000) < corrupt * 1000;
    const kind = r.int(5);
    const roll = r.int(20);
    const status: HistoryOp['status'] = roll === 0 ? 'fail' : roll < 3 ? 'unknown' : 'ok';
    const takesEffect = status === 'ok' || (status === 'unknown' && r.int(2) === 0);
    const base = { clientId: client, key, call, return: status === 'unknown' ? null : ret, status };
    if (kind === 0) {
      out.push({ ...base, op: 'get', output: lie ? (r.int(3) === 0 ? null : pick()) : cur });
    } else if (kind === 1) {
      const value = pick();
      if (takesEffect) state.set(key, value);
      out.push({ ...base, op: 'put', value });
    } else if (kind === 2) {
      const value = VALUES[r.int(2)]!;
      if (takesEffect) state.set(key, (cur ?? '') + value);
      out.push({ ...base, op: 'append', value });
    } else if (kind === 3) {
      if (takesEffect) state.set(key, null);
      out.push({ ...base, op: 'delete', output: r.int(4) === 0 ? undefined : lie ? cur === null : cur !== null });
    } else {
      const expected = r.int(3) === 0 ? null : r.int(2) === 0 ? cur : pick();
      const value = pick();
      const swapped = expected === cur;
      if (takesEffect && swapped) state.set(key, value);
      out.push({ ...base, op: 'cas', expected, value, output: lie ? !swapped : swapped });
    }
  }
  return out;
}

const strip = (ps: readonly PartitionResult[]) => ps.map((p) => ({ key: p.key, verdict: p.verdict, order: [...p.order], stuck: p.stuck }));

test('the search gives what the reference search gives: verdict, linearization or longest prefix, stuck operation', () => {
  const seen = { ok: 0, illegal: 0 };
  for (let seed = 1; seed <= 3000; seed++) {
    const h = randomHistory(new SeededRandom(seed));
    const got = checkHistory(h, { timeoutMs: 60_000 });
    const want = referenceCheck(h);
    assert.deepEqual(strip(got.partitions), strip(want), `seed ${seed}`);
    assert.equal(got.verdict, want.some((p) => p.verdict === 'illegal') ? 'illegal' : 'ok', `seed ${seed}`);
    seen[got.verdict as 'ok' | 'illegal']++;
  }
  assert.ok(seen.ok > 500 && seen.illegal > 500, `too one-sided: ${JSON.stringify(seen)}`);
});

test('the search gives what the reference search gives on porcupine histories', () => {
  const data = new URL('../../../bench/data/porcupine/', import.meta.url);
  const read = (rel: string): string => gunzipSync(readFileSync(new URL(rel, data))).toString('utf8');
  const hs = [
    ...['c01-ok', 'c01-bad', 'c10-ok', 'c10-bad'].map((n) => parseJepsenKvLog(read(`kv/${n}.txt.gz`), n)),
    ...['etcd_000', 'etcd_001', 'etcd_102', 'etcd_067'].map((n) => parseJepsenEtcdLog(read(`etcd/${n}.log.gz`), n)),
  ];
  for (const h of hs) assert.deepEqual(strip(checkHistory(h).partitions), strip(referenceCheck(h)));
});
