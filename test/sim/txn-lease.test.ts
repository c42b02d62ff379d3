/**
 * The simulator's transaction and lease checks: each fires on a hand-made
 * bad history and passes a good one; the watch replay orders a revision's
 * changes as the state machine applies them; and whole runs with the
 * transaction and lease clients pass every check.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TxnHistoryOp } from '../../src/check/txn.js';
import { encodeCommand, type KvCommand } from '../../src/kv/commands.js';
import type { LeaseCommand } from '../../src/kv/leases.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import type { WatchChange } from '../../src/kv/watch-history.js';
import { runSimulation } from '../../src/sim/cluster.js';
import { checkKeptAlive, checkLeaseDrops, checkSameLeases } from '../../src/sim/leases.js';
import { SimCheckFailure, type CheckName } from '../../src/sim/safety.js';
import { checkTxns } from '../../src/sim/txns.js';
import { replayChanges } from '../../src/sim/watchers.js';
import { encode } from '../../src/util/codec.js';

const fails = (check: CheckName, fn: () => void, message: RegExp): void => {
  assert.throws(fn, (e: unknown) => e instanceof SimCheckFailure && e.check === check && message.test(e.message));
};

/** A pair compare-and-set of t0 and t1 (both absent → x0, x1), then a read of both. */
function pairThenRead(reads: (string | null)[]): TxnHistoryOp[] {
  return [
    {
      clientId: 'a',
      compare: [
        { key: 't0', target: 'exists', op: '=', value: false },
        { key: 't1', target: 'exists', op: '=', value: false },
      ],
      success: [
        { op: 'put', key: 't0', value: 'x0' },
        { op: 'put', key: 't1', value: 'x1' },
      ],
      failure: [],
      output: { succeeded: true, reads: [] },
      call: 0,
      return: 10,
      status: 'ok',
    },
    {
      clientId: 'b',
      compare: [],
      success: [
        { op: 'get', key: 't0' },
        { op: 'get', key: 't1' },
      ],
      failure: [],
      output: { succeeded: true, reads },
      call: 20,
      return: 30,
      status: 'ok',
    },
  ];
}

test('txn: a read after a transaction that sees all of it passes; one that sees half of it (torn) fails', () => {
  checkTxns(pairThenRead(['x0', 'x1']));
  fails('txn', () => checkTxns(pairThenRead(['x0', null])), /no atomic, isolated order/);
  // Concurrent with the write (called before it returned), the read may see none of it, but still not half.
  const concurrent = pairThenRead([null, null]).map((o) => (o.clientId === 'b' ? { ...o, call: 5 } : o));
  checkTxns(concurrent);
  fails('txn', () => checkTxns(pairThenRead([null, 'x1']).map((o) => (o.clientId === 'b' ? { ...o, call: 5 } : o))), /no atomic/);
});

test('lease-kept-alive: an expiry sooner than the TTL (at the fastest allowed clock) after the last acknowledged keep-alive was sent fails', () => {
  const acks = [
    { id: 7, ttl: 2, call: 100, revision: 7 },
    { id: 7, ttl: 2, call: 600, revision: 12 },
  ];
  // 1000 ppm: no expiry before 600 + 2000 / 1.001 = 2598.0 ms.
  checkKeptAlive([{ id: 7, index: 20, generation: 1, at: 2600 }], acks, 1000);
  fails('lease-kept-alive', () => checkKeptAlive([{ id: 7, index: 20, generation: 1, at: 2590 }], acks, 1000), /lease 7 .*sent at 600\.0 ms/);
  // The keep-alive at 600 applied after the expiry (revision 25 > 20) does not count: the expiry may follow the grant's TTL.
  checkKeptAlive([{ id: 7, index: 20, generation: 0, at: 2200 }], [acks[0]!, { ...acks[1]!, revision: 25 }], 1000);
  // A lease nobody was told of (a retried grant's twin) is not checked.
  checkKeptAlive([{ id: 9, index: 20, generation: 0, at: 1 }], acks, 0);
});

test('lease-expiry-atomic: replicas that end an index with different leases, or delete different leased keys, fail', () => {
  const del = (key: string, revision: number): WatchChange => ({ type: 'delete', key, revision });
  checkSameLeases(5, { node: 1, changes: [del('l/a', 5)], leases: '2' }, { node: 0, changes: [del('l/a', 5)], leases: '2' });
  fails('lease-expiry-atomic', () => checkSameLeases(5, { node: 1, changes: [], leases: '' }, { node: 0, changes: [], leases: '2' }), /after applying index 5, node 1 held leases \[\] but node 0 held leases \[2\]/);
  fails('lease-expiry-atomic', () => checkSameLeases(5, { node: 1, changes: [], leases: '' }, { node: 0, changes: [del('l/a', 5)], leases: '' }), /node 1 made nothing but node 0 made delete l\/a/);
  // A difference in keys of no lease is the replica-state check's to report.
  checkSameLeases(5, { node: 1, changes: [], leases: '' }, { node: 0, changes: [del('k0', 5)], leases: '' });
});

/** A committed log: grant lease 1, two keys attached, one plain key, then revoke. */
function leaseLog(): Map<number, { command: Uint8Array; term: number }> {
  const kv = (c: Record<string, unknown>): Uint8Array => encodeCommand({ ...c, time: 1 } as KvCommand);
  const lease = (c: LeaseCommand): Uint8Array => encode(c);
  const cmds = [lease({ kind: 'lease-grant', ttl: 1, time: 1 }), kv({ op: 'put', key: 'l/b', value: '1', lease: 1 }), kv({ op: 'put', key: 'l/a', value: '2', lease: 1 }), kv({ op: 'put', key: 'k', value: '3' }), lease({ kind: 'lease-revoke', id: 1, time: 2 })];
  return new Map(cmds.map((command, i) => [i + 1, { command, term: 1 }]));
}

test('lease-expiry-atomic: the committed log replayed: a revoke that leaves one of its keys behind fails', () => {
  checkLeaseDrops(leaseLog());
  /** Deletes the lease's keys, then puts one back at the same revision (as a bug might). */
  class Leaky extends KvStateMachine {
    override apply(command: Uint8Array, meta: Parameters<KvStateMachine['apply']>[1]): ReturnType<KvStateMachine['apply']> {
      const r = super.apply(command, meta);
      if (r.ok && r.op === 'lease' && r.action === 'revoke') super.apply(encodeCommand({ op: 'put', key: 'l/a', value: '2', time: 2 }), meta);
      return r;
    }
  }
  fails('lease-expiry-atomic', () => checkLeaseDrops(leaseLog(), new Map(), (o) => new Leaky(o)), /lease-revoke of lease 1 at index 5: attached keys l\/a, l\/b.*still present l\/a/);
});

test('lease-expiry-atomic: replicas that all dropped a lease the committed log does not drop there fail', () => {
  const del = (key: string, revision: number): WatchChange => ({ type: 'delete', key, revision });
  // What the replicas did at index 4 (a plain put): they dropped lease 1 by their own judgement.
  const applied = new Map([[4, { node: 2, changes: [del('l/a', 4), del('l/b', 4)], leases: '' }]]);
  fails('lease-expiry-atomic', () => checkLeaseDrops(leaseLog(), applied), /after applying index 4, node 2 held leases \[\] but the committed log holds leases \[1\]/);
  checkLeaseDrops(leaseLog(), new Map([[4, { node: 2, changes: [{ type: 'put', key: 'k', value: '3', revision: 4, createRevision: 4 }], leases: '1' }]]));
});

test("the committed history orders a revision's changes as the state machine applies them: a transaction's branch in order, a lease's keys by key", () => {
  const log = leaseLog();
  log.set(6, { command: encodeCommand({ op: 'txn', compare: [], success: [{ op: 'put', key: 't1', value: 'b' }, { op: 'get', key: 'k' }, { op: 'put', key: 't0', value: 'a' }], failure: [], time: 3 } as KvCommand), term: 1 });
  const changes = replayChanges(log).filter((c) => c.revision >= 5);
  assert.deepEqual(
    changes.map((c) => `${c.type} ${c.key}@${c.revision}`),
    ['delete l/a@5', 'delete l/b@5', 'put t1@6', 'put t0@6'],
  );
});

test('whole runs with transaction and lease clients pass every check, and exercise both', async () => {
  let txns = 0;
  let expiries = 0;
  let keepAlives = 0;
  for (const [seed, profile] of [[1, 'swarm'], [2, 'swarm'], [3, 'lease'], [4, 'membership'], [5, 'calm']] as const) {
    const r = await runSimulation({ seed, profile });
    assert.ok(r.ok, `seed ${seed} (${profile}): ${r.failure?.check}: ${r.failure?.message}`);
    txns += r.stats.txns;
    expiries += r.stats.leaseExpiries;
    keepAlives += r.stats.leaseKeepAlives;
  }
  assert.ok(txns > 20, `only ${txns} transactions`);
  assert.ok(keepAlives > 10, `only ${keepAlives} keep-alives`);
  assert.ok(expiries > 0, 'no lease expired');
});
