// ReadIndex (Raft dissertation §6.4): a read is served at the leader's commit
// index once a heartbeat round shows a majority still follows it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntryType, MessageType, type Message, type ReadState } from '../../src/core/types.js';
import { Cluster, heartbeatResp, newRaft, drain } from './helpers.js';

function readStates(c: Cluster, id: number): ReadState[] {
  return c.readies.get(id)!.flatMap((rd) => rd.readStates);
}

function failed(c: Cluster, id: number): number[] {
  return c.readies.get(id)!.flatMap((rd) => rd.failedReads);
}

test('a new leader serves no read before it has committed an entry of its own term', () => {
  const c = new Cluster([1, 2, 3], { noopOnElection: true });
  c.campaign(1);
  // Win the election but hold back every append acknowledgement: the no-op cannot commit.
  c.drop((m) => m.type === MessageType.AppResp);
  c.stabilize();
  const leader = c.get(1);
  assert.equal(leader.role, 'leader');
  assert.ok(leader.readIndex(7));
  c.stabilize();
  assert.deepEqual(readStates(c, 1), [], 'no read state while the no-op is uncommitted');
  assert.equal(c.sentWhere((m) => m.type === MessageType.Heartbeat && m.ctx > 0).length, 0, 'no read round started yet');
  c.heal();
  c.heartbeat(1); // acknowledgements flow, the no-op commits, the read round runs
  assert.deepEqual(readStates(c, 1), [{ ctx: 7, index: leader.log.committed }]);
  assert.equal(leader.log.term(leader.log.committed), leader.term);
});

test('without a no-op on election, the first read of a term appends one, so reads never wait for a write (sim seed 899)', () => {
  const c = new Cluster([1, 2, 3], { noopOnElection: false });
  const leader = c.elect(1);
  const last = leader.log.lastIndex();
  assert.notEqual(leader.log.term(leader.log.committed), leader.term, 'nothing of this term committed yet');
  assert.ok(leader.readIndex(5));
  assert.ok(leader.readIndex(6));
  c.stabilize();
  assert.equal(leader.log.lastIndex(), last + 1, 'one no-op for both reads');
  assert.equal(leader.log.entryAt(last + 1)?.type, EntryType.Noop);
  assert.deepEqual(readStates(c, 1), [5, 6].map((ctx) => ({ ctx, index: last + 1 })));
});

test('concurrent reads share one heartbeat round; the read index is the commit index', () => {
  const c = new Cluster([1, 2, 3], { noopOnElection: true });
  const leader = c.elect(1);
  const commit = leader.log.committed;
  const hb0 = c.sentWhere((m) => m.type === MessageType.Heartbeat).length;
  for (const ctx of [11, 12, 13]) assert.ok(leader.readIndex(ctx));
  c.stabilize();
  const rounds = c.sentWhere((m) => m.type === MessageType.Heartbeat).slice(hb0);
  assert.equal(rounds.length, 2, 'one heartbeat per follower for the three reads');
  assert.ok(rounds.every((m) => m.type === MessageType.Heartbeat && m.ctx === 1));
  assert.deepEqual(readStates(c, 1), [11, 12, 13].map((ctx) => ({ ctx, index: commit })));
});

test('an acknowledgement confirms only the reads registered before its round', () => {
  const r = newRaft(1, [1, 2, 3], { noopOnElection: true });
  r.tick();
  for (let i = 0; i < 100 && r.role !== 'leader'; i++) {
    r.tick();
    for (const m of drain(r).messages) if (m.type === MessageType.Vote) r.step({ type: MessageType.VoteResp, term: m.term, from: m.to, to: 1, granted: true });
  }
  assert.equal(r.role, 'leader');
  // Commit the no-op with acknowledgements from both followers.
  const apps = drain(r).messages.filter((m): m is Extract<Message, { type: 3 }> => m.type === MessageType.App);
  for (const a of apps) r.step({ type: MessageType.AppResp, term: r.term, from: a.to, to: 1, success: true, index: a.prevIndex + a.entries.length, hintTerm: 0, hintIndex: 0 });
  drain(r);
  r.readIndex(1);
  const round1 = drain(r);
  assert.ok(round1.messages.some((m) => m.type === MessageType.Heartbeat && m.ctx === 1));
  r.readIndex(2);
  const round2 = drain(r);
  assert.ok(round2.messages.some((m) => m.type === MessageType.Heartbeat && m.ctx === 2));
  r.step(heartbeatResp(2, 1, r.term, 1));
  assert.deepEqual(drain(r).readStates.map((s) => s.ctx), [1], 'round 1 confirms read 1 only');
  r.step(heartbeatResp(3, 1, r.term, 2));
  assert.deepEqual(drain(r).readStates.map((s) => s.ctx), [2]);
});

test('an isolated leader never confirms a read, and fails it when it steps down', () => {
  const c = new Cluster([1, 2, 3], { noopOnElection: true });
  const old = c.elect(1);
  c.isolate(1);
  assert.ok(old.readIndex(5));
  c.heartbeat(1);
  c.heartbeat(1);
  assert.deepEqual(readStates(c, 1), []);
  // The others elect a new leader; when the old one hears of the new term, its read fails.
  c.elect(2);
  c.heal();
  c.heartbeat(2);
  assert.equal(old.role, 'follower');
  assert.deepEqual(readStates(c, 1), []);
  assert.deepEqual(failed(c, 1), [5]);
});

test('a follower asks the leader for the read index and gets the leader’s commit index', () => {
  const c = new Cluster([1, 2, 3], { noopOnElection: true });
  const leader = c.elect(1);
  c.propose(1, 'x');
  c.stabilize();
  assert.ok(c.get(2).readIndex(42));
  c.stabilize();
  const asks = c.sentWhere((m) => m.type === MessageType.ReadIndex);
  assert.deepEqual(
    asks.map((m) => [m.from, m.to]),
    [[2, 1]],
  );
  assert.deepEqual(readStates(c, 2), [{ ctx: 42, index: leader.log.committed }]);
});

test('a follower that knows no leader refuses a read at once; a non-leader refuses forwarded reads', () => {
  const lone = newRaft(2, [1, 2, 3]);
  assert.equal(lone.readIndex(1), false);
  const c = new Cluster([1, 2, 3], { noopOnElection: true });
  c.elect(1);
  c.get(3).step({ type: MessageType.ReadIndex, term: c.get(3).term, from: 2, to: 3, ctx: 9 });
  const rd = drain(c.get(3));
  assert.deepEqual(
    rd.messages.filter((m) => m.type === MessageType.ReadIndexResp).map((m) => m.type === MessageType.ReadIndexResp && [m.to, m.ctx, m.index]),
    [[2, 9, -1]],
  );
});

test('a single-node cluster confirms reads without a round trip', () => {
  const c = new Cluster([1], { noopOnElection: true });
  const r = c.elect(1);
  assert.ok(r.readIndex(3));
  c.stabilize();
  assert.deepEqual(readStates(c, 1), [{ ctx: 3, index: r.log.committed }]);
});
