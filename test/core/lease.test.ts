// Lease reads (dissertation §6.4.1): a leader answers a read at its commit index without a heartbeat
// round while a round a quorum acknowledged was sent less than a lease ago (src/core/lease.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, resolveNodeOptions } from '../../src/core/config.js';
import { leaseTicks } from '../../src/core/lease.js';
import type { Raft } from '../../src/core/raft.js';
import { MessageType, Role } from '../../src/core/types.js';
import { Cluster, DEFAULT_ELECTION, appResp, drain, heartbeat, heartbeatResp, makeLeader, newRaft, ofType, vote } from './helpers.js';

/** Election timeout 10 ticks, no drift: a lease lasts (10 - 1) ticks after its round was sent. */
const LEASE = { checkQuorum: true, leaseReads: true, maxClockDriftPpm: 0, heartbeatTicks: 2 } as const;
const L = DEFAULT_ELECTION - 1;

/** A leader of nodes 1..n that has committed its election no-op (node 2 acknowledged it). */
function leader(n = 3, opts: object = LEASE): Raft {
  const r = newRaft(1, Array.from({ length: n }, (_, i) => i + 1), opts);
  makeLeader(r);
  for (let id = 2; id <= Math.floor(n / 2) + 1; id++) r.step(appResp(id, 1, r.term, { success: true, index: r.log.lastIndex() }));
  drain(r);
  assert.equal(r.log.term(r.log.committed), r.term);
  return r;
}

/** Ticks until the leader sends a heartbeat round; returns the round. */
function nextRound(r: Raft): number {
  for (let i = 0; i < 100; i++) {
    r.tick();
    const hb = ofType(drain(r).messages, MessageType.Heartbeat);
    if (hb.length > 0) return hb[0]!.ctx;
  }
  throw new Error('no heartbeat round');
}

function ticks(r: Raft, n: number): void {
  for (let i = 0; i < n; i++) {
    r.tick();
    drain(r);
  }
}

/** Asks for a lease read: answered at once from the lease, or by a heartbeat round (returned) as ReadIndex does. */
function leaseRead(r: Raft, ctx: number): { kind: 'lease'; index: number } | { kind: 'round'; round: number } {
  assert.ok(r.readIndex(ctx, true));
  const rd = drain(r);
  const state = rd.readStates.find((s) => s.ctx === ctx);
  if (state !== undefined) {
    assert.equal(ofType(rd.messages, MessageType.Heartbeat).length, 0, 'a lease read sends no round');
    return { kind: 'lease', index: state.index };
  }
  const rounds = ofType(rd.messages, MessageType.Heartbeat).filter((m) => m.ctx > 0);
  assert.ok(rounds.length > 0, 'a read the lease does not cover takes a heartbeat round');
  return { kind: 'round', round: rounds[0]!.ctx };
}

test('the lease bound: (electionTicks - 1)(1 - d)/(1 + d) ticks, refused without check quorum or without room for one tick', () => {
  assert.equal(leaseTicks({ leaseReads: true, checkQuorum: true, electionTicks: 100, maxClockDriftPpm: 10_000 }), 97);
  assert.equal(leaseTicks({ leaseReads: true, checkQuorum: true, electionTicks: 20, maxClockDriftPpm: 1000 }), 18);
  assert.equal(leaseTicks({ leaseReads: true, checkQuorum: true, electionTicks: 10, maxClockDriftPpm: 0 }), 9);
  assert.equal(leaseTicks({ leaseReads: false, checkQuorum: false, electionTicks: 10, maxClockDriftPpm: 0 }), 0);
  assert.equal(leaseTicks({ leaseReads: true, checkQuorum: true, electionTicks: 10, maxClockDriftPpm: 0 }, 'lease-outlives-bound'), 20, 'the canary outlives the bound');
  const named = (option: string, re: RegExp) => (e: unknown) => e instanceof ConfigError && e.option === option && re.test(e.message);
  assert.throws(() => leaseTicks({ leaseReads: true, checkQuorum: true, electionTicks: 2, maxClockDriftPpm: 50_000 }), named('leaseReads', /leaves no lease/));
  assert.throws(() => newRaft(1, [1, 2, 3], { leaseReads: true, checkQuorum: false }), named('leaseReads', /requires checkQuorum/));
  assert.throws(() => resolveNodeOptions('lab', { leaseReads: true }), named('leaseReads', /requires checkQuorum/));
  assert.throws(() => resolveNodeOptions('production', { leaseReads: true, maxClockDriftPpm: 200_000 }), named('maxClockDriftPpm', /0 to 100000/));
  assert.equal(resolveNodeOptions('production', { leaseReads: true }).leaseReads, true, 'production has check quorum on');
});

test('a lease holds for L ticks after its round was sent, then a lease read falls back to a round', () => {
  const r = leader();
  const round = nextRound(r);
  r.step(heartbeatResp(2, 1, r.term, round));
  const first = leaseRead(r, 100);
  assert.deepEqual(first, { kind: 'lease', index: r.log.committed });
  ticks(r, L - 1); // later rounds go unanswered
  assert.equal(leaseRead(r, 101).kind, 'lease', `${L - 1} ticks after the send`);
  ticks(r, 1);
  const late = leaseRead(r, 102);
  assert.equal(late.kind, 'round', `${L} ticks after the send the lease is over`);
  // The fallback is an ordinary ReadIndex: it completes when its round is answered, and renews the lease.
  const rd = (r.step(heartbeatResp(2, 1, r.term, late.kind === 'round' ? late.round : -1)), drain(r));
  assert.deepEqual(rd.readStates, [{ ctx: 102, index: r.log.committed }]);
  assert.equal(leaseRead(r, 103).kind, 'lease');
  assert.equal(r.lease.served, 3);
});

test('the lease is anchored where its round was sent, not where the acknowledgements arrived', () => {
  const r = leader();
  const round = nextRound(r);
  ticks(r, 5); // the acknowledgement takes 5 ticks to come back
  r.step(heartbeatResp(2, 1, r.term, round));
  ticks(r, L - 1 - 5);
  assert.equal(leaseRead(r, 1).kind, 'lease');
  ticks(r, 1);
  assert.equal(leaseRead(r, 2).kind, 'round', 'over L ticks after the send, however late the acknowledgement');
});

test('only a quorum of acknowledgements makes a lease; an answer to a later round vouches for earlier ones', () => {
  const r = leader(5);
  const a = nextRound(r);
  r.step(heartbeatResp(2, 1, r.term, a));
  assert.equal(leaseRead(r, 1).kind, 'round', 'nodes 1 and 2 are no majority of 5');
  const b = nextRound(r);
  assert.ok(b > a);
  r.step(heartbeatResp(3, 1, r.term, b));
  // Node 3 heard round b, sent after round a: with node 2, a majority heard from us since round a.
  assert.equal(leaseRead(r, 2).kind, 'lease');
});

test('no lease read before the leader has committed an entry of its term', () => {
  const r = newRaft(1, [1, 2, 3], LEASE);
  makeLeader(r);
  const round = nextRound(r);
  r.step(heartbeatResp(2, 1, r.term, round));
  assert.notEqual(r.log.term(r.log.committed), r.term);
  assert.ok(r.readIndex(7, true));
  assert.deepEqual(drain(r).readStates, [], 'the read waits for the no-op to commit');
  r.step(appResp(2, 1, r.term, { success: true, index: r.log.lastIndex() }));
  r.step(heartbeatResp(2, 1, r.term, nextRound(r)));
  const later = drain(r).readStates;
  assert.deepEqual(later, [{ ctx: 7, index: r.log.committed }]);
});

test('the lease is void from the moment a transfer starts; once TimeoutNow went out, for the rest of the term', () => {
  // Node 3 never answered: a transfer to it waits for it to catch up, and sends no TimeoutNow.
  const r = leader();
  r.step(heartbeatResp(2, 1, r.term, nextRound(r)));
  assert.equal(leaseRead(r, 1).kind, 'lease');
  r.transferLeader(3);
  assert.ok(r.readIndex(2, true));
  assert.deepEqual(drain(r).failedReads, [2], 'no reads at all during a transfer');
  // Keep a majority answering until the transfer is abandoned.
  for (let i = 0; i < 2 * DEFAULT_ELECTION && r.transferTarget !== null; i++) r.step(heartbeatResp(2, 1, r.term, nextRound(r)));
  assert.equal(r.transferTarget, null);
  assert.equal(r.role, Role.Leader);
  r.step(heartbeatResp(2, 1, r.term, nextRound(r)));
  assert.equal(leaseRead(r, 3).kind, 'lease', 'an abandoned transfer that sent no TimeoutNow: rounds after it count again');

  // Node 2 is up to date: the transfer sends TimeoutNow at once. A late TimeoutNow may still elect node 2.
  r.transferLeader(2);
  assert.ok(ofType(drain(r).messages, MessageType.TimeoutNow).length === 1);
  for (let i = 0; i < 2 * DEFAULT_ELECTION && r.transferTarget !== null; i++) r.step(heartbeatResp(2, 1, r.term, nextRound(r)));
  assert.equal(r.transferTarget, null);
  r.step(heartbeatResp(2, 1, r.term, nextRound(r)));
  r.step(heartbeatResp(3, 1, r.term, nextRound(r)));
  assert.equal(leaseRead(r, 4).kind, 'round', 'void for the rest of the term');
});

test('a configuration change voids the lease until a quorum of the new configuration (both halves while joint) answers a later round', () => {
  const r = leader();
  r.step(heartbeatResp(2, 1, r.term, nextRound(r)));
  assert.equal(leaseRead(r, 1).kind, 'lease');
  r.proposeConfChange({ steps: [{ type: 'remove', id: 2 }] }); // joint: {1,2,3} and {1,3}
  assert.equal(leaseRead(r, 2).kind, 'round', 'void at once');
  r.step(heartbeatResp(2, 1, r.term, nextRound(r)));
  assert.equal(leaseRead(r, 3).kind, 'round', '1 and 2 are a majority of the old half only');
  r.step(heartbeatResp(3, 1, r.term, nextRound(r)));
  assert.equal(leaseRead(r, 4).kind, 'lease', '1, 2, 3: a majority of both halves');
});

test('with lease reads, a node that just started refuses votes for an election timeout (a leader may still count on it)', () => {
  for (const leaseReads of [true, false]) {
    const r = newRaft(2, [1, 2, 3], { ...LEASE, leaseReads });
    const first = r.step(vote(3, 2, 1, 0, 0));
    assert.equal(first?.type === MessageType.VoteResp && first.granted, !leaseReads, `leaseReads ${leaseReads}: at start`);
    if (!leaseReads) continue;
    for (let i = 0; i < DEFAULT_ELECTION - 1; i++) r.tick();
    const before = r.step(vote(3, 2, 2, 0, 0));
    assert.equal(before?.type === MessageType.VoteResp && before.granted, false, 'one tick short of an election timeout');
    r.tick();
    const after = r.step(vote(3, 2, 3, 0, 0));
    assert.equal(after?.type === MessageType.VoteResp && after.granted, true, 'after an election timeout');
  }
});

test('with lease reads, a follower of a live leader ignores a newer term from anything but a leader message', () => {
  for (const leaseReads of [true, false]) {
    const r = newRaft(2, [1, 2, 3], { ...LEASE, leaseReads });
    r.step(heartbeat(1, 2, 1, 0));
    assert.equal(r.leader, 1);
    // A late answer from node 3, which has since campaigned in term 2 (and cannot win while we follow node 1).
    r.step(heartbeatResp(3, 2, 2));
    assert.equal(r.term, leaseReads ? 1 : 2);
    assert.equal(r.leader, leaseReads ? 1 : null);
  }
});

test('in a cluster, follower lease reads are answered by the leader from its lease, with no extra round', () => {
  const c = new Cluster([1, 2, 3], { ...LEASE, preVote: true });
  // Nodes that just started refuse votes for an election timeout (the test above): let it pass.
  for (const id of [2, 3]) c.tick(id, DEFAULT_ELECTION);
  const l = c.elect(1);
  c.heartbeat(1, 2);
  const rounds = c.sentWhere((m) => m.type === MessageType.Heartbeat && m.ctx > 0).length;
  assert.ok(c.get(2).readIndex(9, true));
  c.stabilize();
  assert.deepEqual(
    c.readies.get(2)!.flatMap((rd) => rd.readStates),
    [{ ctx: 9, index: l.log.committed }],
  );
  assert.equal(c.sentWhere((m) => m.type === MessageType.Heartbeat && m.ctx > 0).length, rounds, 'no round for it');
  assert.equal(l.lease.served, 1);
});
