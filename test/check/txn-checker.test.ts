/** The transaction checker: atomic histories pass; a torn transaction is caught, where the per-key checker cannot see it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkHistory, type HistoryOp } from '../../src/check/index.js';
import { checkTxnHistory, fromKvOp, type TxnHistoryOp } from '../../src/check/txn.js';

const put = (key: string, value: string) => ({ op: 'put' as const, key, value });
const get = (key: string) => ({ op: 'get' as const, key });

/** W writes x and y in one transaction; R reads both, concurrently with W. */
function writerAndReader(reads: (string | null)[]): TxnHistoryOp[] {
  return [
    { clientId: 'w', compare: [], success: [put('x', '1'), put('y', '1')], failure: [], output: { succeeded: true, reads: [] }, call: 0, return: 10, status: 'ok' },
    { clientId: 'r', compare: [], success: [get('x'), get('y')], failure: [], output: { succeeded: true, reads }, call: 1, return: 9, status: 'ok' },
  ];
}

test('a reader that sees all or nothing of a concurrent transaction is linearizable', () => {
  assert.equal(checkTxnHistory(writerAndReader(['1', '1'])).verdict, 'ok');
  assert.equal(checkTxnHistory(writerAndReader([null, null])).verdict, 'ok');
});

test('a torn transaction (a reader sees one key written and the other not) is caught; the per-key checker passes it', () => {
  const torn = writerAndReader(['1', null]);
  const r = checkTxnHistory(torn);
  assert.equal(r.verdict, 'illegal');
  assert.deepEqual(r.components, [{ keys: ['x', 'y'], ops: 2, verdict: 'illegal' }]);
  // The same history, each operation split per key: every key alone is linearizable.
  const perKey: HistoryOp[] = [
    { clientId: 'w', op: 'put', key: 'x', value: '1', call: 0, return: 10, status: 'ok' },
    { clientId: 'w', op: 'put', key: 'y', value: '1', call: 0, return: 10, status: 'ok' },
    { clientId: 'r', op: 'get', key: 'x', output: '1', call: 1, return: 9, status: 'ok' },
    { clientId: 'r', op: 'get', key: 'y', output: null, call: 1, return: 9, status: 'ok' },
  ];
  assert.equal(checkHistory(perKey).verdict, 'ok', 'why a model over the keys a transaction touches is needed');
});

test('compares choose the branch: a transfer that both succeeded twice from the same state is illegal', () => {
  // Two clients each move x from "a" to themselves if x = "a": only one may succeed.
  const claim = (who: string, succeeded: boolean, call: number, ret: number): TxnHistoryOp => ({
    clientId: who,
    compare: [{ key: 'lock', target: 'value', op: '=', value: 'free' }],
    success: [put('lock', who), put(`owner/${who}`, 'yes')],
    failure: [get('lock')],
    output: { succeeded, reads: succeeded ? [] : ['a'] }, // the loser's get reads the winner a
    call,
    return: ret,
    status: 'ok',
  });
  const init: TxnHistoryOp = { clientId: 'i', compare: [], success: [put('lock', 'free')], failure: [], output: { succeeded: true, reads: [] }, call: 0, return: 1, status: 'ok' };
  assert.equal(checkTxnHistory([init, claim('a', true, 2, 5), claim('b', false, 3, 6)]).verdict, 'ok');
  assert.equal(checkTxnHistory([init, claim('a', true, 2, 5), claim('b', true, 3, 6)]).verdict, 'illegal', 'both won the lock');
  // The loser's failure branch read the winner's value: reading "b" instead is illegal.
  const wrongRead = { ...claim('b', false, 3, 6), output: { succeeded: false, reads: ['b'] } };
  assert.equal(checkTxnHistory([init, claim('a', true, 2, 5), wrongRead]).verdict, 'illegal');
});

test('unknown operations may apply or not; single-key operations join in; keys never touched together are separate components', () => {
  const h: TxnHistoryOp[] = [
    { clientId: 'w', compare: [], success: [put('x', '1'), put('y', '1')], failure: [], call: 0, return: null, status: 'unknown' },
    fromKvOp({ clientId: 'r', op: 'get', key: 'x', output: '1', call: 5, return: 6, status: 'ok' }),
    fromKvOp({ clientId: 'r', op: 'get', key: 'y', output: '1', call: 7, return: 8, status: 'ok' }),
    fromKvOp({ clientId: 'c', op: 'cas', key: 'z', expected: null, value: 'v', output: true, call: 0, return: 1, status: 'ok' }),
    fromKvOp({ clientId: 'c', op: 'get', key: 'z', output: 'v', call: 2, return: 3, status: 'ok' }),
  ];
  const r = checkTxnHistory(h);
  assert.equal(r.verdict, 'ok');
  assert.deepEqual(r.components.map((c) => c.keys), [['x', 'y'], ['z']]);
  // After seeing x = 1 (the unknown transaction applied), y must be 1 too.
  const torn = [...h.slice(0, 2), fromKvOp({ clientId: 'r', op: 'get', key: 'y', output: null, call: 7, return: 8, status: 'ok' })];
  assert.equal(checkTxnHistory(torn).verdict, 'illegal');
  assert.throws(() => checkTxnHistory([{ clientId: 'q', compare: [{ key: 'k', target: 'modRevision', op: '=', value: 3 }], success: [], failure: [], call: 0, return: 1, status: 'ok' }]), /does not model revisions: a compare on modRevision of "k"/);
  assert.throws(() => fromKvOp({ clientId: 'q', op: 'append', key: 'k', value: 'v', call: 0, return: 1, status: 'ok' }), /does not model appends/);
});
