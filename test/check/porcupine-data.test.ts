import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { checkHistory, explain, HistoryFormatError, renderHtml, type HistoryOp, type Verdict } from '../../src/check/index.js';
import { ETCD_REGISTER_KEY, parseJepsenEtcdLog, parseJepsenKvLog } from '../../src/check/jepsen-logs.js';

// porcupine's published histories (bench/data/porcupine/README.md); the full set runs in `npm run bench:checker`.
const DATA = new URL('../../../bench/data/porcupine/', import.meta.url);
const expected = JSON.parse(readFileSync(new URL('expected.json', DATA), 'utf8')) as { etcd: Record<string, Verdict>; kv: Record<string, Verdict> };
const read = (rel: string): string => gunzipSync(readFileSync(new URL(rel, DATA))).toString('utf8');

test('porcupine data: the expected verdicts are the ones its tests state', () => {
  assert.equal(Object.keys(expected.etcd).length, 102);
  assert.equal(Object.values(expected.etcd).filter((v) => v === 'ok').length, 23);
  assert.deepEqual(expected.kv, { 'c01-ok': 'ok', 'c01-bad': 'illegal', 'c10-ok': 'ok', 'c10-bad': 'illegal', 'c50-ok': 'ok', 'c50-bad': 'illegal' });
});

for (const name of ['c01-ok', 'c01-bad', 'c10-ok', 'c10-bad']) {
  test(`porcupine kv log ${name}: verdict ${expected.kv[name]}`, () => {
    const h = parseJepsenKvLog(read(`kv/${name}.txt.gz`), name);
    assert.ok(h.length > 30 && h.every((o) => o.status === 'ok'));
    const r = checkHistory(h, { timeoutMs: 30_000 });
    assert.equal(r.verdict, expected.kv[name], explain(r));
    if (r.verdict === 'illegal') {
      const bad = r.partitions.find((p) => p.verdict === 'illegal')!;
      assert.ok(bad.stuck !== undefined, 'an illegal result names the operation that cannot be placed');
      assert.match(explain(r), new RegExp(`^key ${JSON.stringify(bad.key)}: after the longest linearizable prefix`));
      assert.match(renderHtml(r), /NOT linearizable/);
    }
  });
}

// etcd_000 is illegal, etcd_102 is linearizable; etcd_002 is linearizable and the slowest of the set.
for (const name of ['etcd_000', 'etcd_102', 'etcd_002']) {
  test(`porcupine etcd log ${name}: verdict ${expected.etcd[name]}`, () => {
    const h = parseJepsenEtcdLog(read(`etcd/${name}.log.gz`), name);
    assert.ok(h.length > 50 && h.every((o) => o.key === ETCD_REGISTER_KEY));
    const r = checkHistory(h, { timeoutMs: 30_000 });
    assert.equal(r.verdict, expected.etcd[name], explain(r));
    if (r.verdict === 'ok') {
      // The linearization places every operation whose outcome is known.
      const p = r.partitions[0]!;
      const placed = new Set(p.order);
      p.ops.forEach((o, i) => assert.ok(o.status !== 'ok' || placed.has(i), `op ${i} not placed`));
    }
  });
}

test('etcd log parser: operations, outcomes and timeouts', () => {
  const log = [
    'INFO  jepsen.util - 0\t:invoke\t:write\t4',
    'INFO  jepsen.util - 1\t:invoke\t:read\tnil',
    'INFO  jepsen.util - 2\t:invoke\t:cas\t[4 1]',
    'INFO  jepsen.util - 3\t:invoke\t:cas\t[0 2]',
    'INFO  jepsen.util - 4\t:invoke\t:read\tnil',
    'INFO  jepsen.util - 0\t:ok\t:write\t4',
    'INFO  jepsen.util - 1\t:ok\t:read\tnil',
    'INFO  jepsen.util - 2\t:info\t:cas\t:timed-out',
    'INFO  jepsen.util - 3\t:fail\t:cas\t[0 2]',
    'INFO  jepsen.util - 4\t:fail  :read   :timed-out',
    'INFO  jepsen.util - 5\t:invoke\t:write\t7',
    '',
  ].join('\n');
  const h = parseJepsenEtcdLog(log);
  const k = ETCD_REGISTER_KEY;
  const exp: HistoryOp[] = [
    { clientId: 0, op: 'put', key: k, value: '4', call: 0, return: 5, status: 'ok' },
    { clientId: 1, op: 'get', key: k, output: null, call: 1, return: 6, status: 'ok' },
    { clientId: 2, op: 'cas', key: k, expected: '4', value: '1', call: 2, return: null, status: 'unknown' },
    // A :fail cas was answered: the compare did not match. It is checked, not ignored.
    { clientId: 3, op: 'cas', key: k, expected: '0', value: '2', output: false, call: 3, return: 8, status: 'ok' },
    { clientId: 4, op: 'get', key: k, call: 4, return: null, status: 'unknown' },
    // Never returned: unknown.
    { clientId: 5, op: 'put', key: k, value: '7', call: 10, return: null, status: 'unknown' },
  ];
  assert.deepEqual(h, exp);
  assert.equal(checkHistory(h).verdict, 'ok');
  // The failed cas reports "did not match" although the register held 0: not linearizable.
  const wrong = parseJepsenEtcdLog(['INFO  jepsen.util - 0\t:invoke\t:cas\t[0 2]', 'INFO  jepsen.util - 0\t:fail\t:cas\t[0 2]', 'INFO  jepsen.util - 1\t:invoke\t:read\tnil', 'INFO  jepsen.util - 1\t:ok\t:read\t2'].join('\n'));
  assert.equal(checkHistory(wrong).verdict, 'illegal');
});

test('etcd log parser: clear errors naming the line', () => {
  assert.throws(() => parseJepsenEtcdLog('INFO  jepsen.util - 0\t:invoke\t:read\tnil\nnonsense'), (e: unknown) => e instanceof HistoryFormatError && /line 2: not a Jepsen etcd operation line/.test(e.message));
  assert.throws(() => parseJepsenEtcdLog('INFO  jepsen.util - 0\t:ok\t:read\t3'), /line 1: process 0 returns get but invoked nothing/);
  assert.throws(() => parseJepsenEtcdLog('INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:write\t3'), /line 2: process 0 returns put but invoked get/);
  assert.throws(() => parseJepsenEtcdLog('INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t3'), /line 2: write returns 3 but wrote 1/);
  assert.throws(() => parseJepsenEtcdLog('INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:invoke\t:write\t2'), /line 2: process 0 invokes put while its put has not returned/);
  assert.throws(() => parseJepsenEtcdLog('INFO  jepsen.util - 0\t:invoke\t:write\tx'), /line 1: unexpected argument "x" for :invoke :write/);
});

test('kv log parser: get, put, append; an empty read is a missing key; empty writes are refused', () => {
  const line = (p: number, type: string, f: string, key: string, value: string | null): string => `{:process ${p}, :type :${type}, :f :${f}, :key "${key}", :value ${value === null ? 'nil' : `"${value}"`}}`;
  const h = parseJepsenKvLog(
    [line(0, 'invoke', 'get', 'a', null), line(1, 'invoke', 'append', 'a', 'x 1 y'), line(0, 'ok', 'get', 'a', ''), line(1, 'ok', 'append', 'a', 'x 1 y'), line(2, 'invoke', 'put', 'b', 'q'), line(2, 'ok', 'put', 'b', 'q'), line(0, 'invoke', 'get', 'a', null), line(0, 'ok', 'get', 'a', 'x 1 y')].join('\n'),
  );
  assert.deepEqual(h, [
    { clientId: 0, op: 'get', key: 'a', output: null, call: 0, return: 2, status: 'ok' },
    { clientId: 1, op: 'append', key: 'a', value: 'x 1 y', call: 1, return: 3, status: 'ok' },
    { clientId: 2, op: 'put', key: 'b', value: 'q', call: 4, return: 5, status: 'ok' },
    { clientId: 0, op: 'get', key: 'a', output: 'x 1 y', call: 6, return: 7, status: 'ok' },
  ]);
  assert.equal(checkHistory(h).verdict, 'ok');
  assert.throws(() => parseJepsenKvLog(line(0, 'invoke', 'put', 'a', '')), /line 1: a put needs a non-empty value/);
  assert.throws(() => parseJepsenKvLog(`${line(0, 'invoke', 'get', 'a', null)}\n${line(0, 'ok', 'get', 'b', '')}`), /line 2: process 0 returns key "b" but invoked "a"/);
  assert.throws(() => parseJepsenKvLog('{:process 0, :type :invoke, :f :incr, :key "a", :value nil}'), /line 1: not a Jepsen key-value operation line/);
});
