// Membership changes in the core: configurations, joint consensus, learners,
// leadership transfer, and catching up a follower that lost its log.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfChangeError, ConfigHistory, applyConfChange, bootstrapConf, decodeConfEntry, encodeConfEntry, isJoint } from '../../src/core/membership.js';
import { JointConfig } from '../../src/core/quorum.js';
import { EntryType, MessageType, Role, type ConfChange, type ConfState, type Message, type NodeId } from '../../src/core/types.js';
import type { Raft } from '../../src/core/raft.js';
import { Cluster, DEFAULT_ELECTION, bytes, drain, ofType } from './helpers.js';

const conf = (voters: NodeId[], outgoing: NodeId[] = [], learners: NodeId[] = []): ConfState => ({ voters, outgoing, learners, context: {} });
const addLearner = (id: NodeId, context?: string): ConfChange => ({ steps: [{ type: 'addLearner', id, ...(context !== undefined && { context }) }] });
const promote = (...ids: NodeId[]): ConfChange => ({ steps: ids.map((id) => ({ type: 'promote' as const, id })) });
const remove = (...ids: NodeId[]): ConfChange => ({ steps: ids.map((id) => ({ type: 'remove' as const, id })) });

function voterSets(r: Raft): [NodeId[], NodeId[], NodeId[]] {
  return [[...r.conf.voters], [...r.conf.outgoing], [...r.conf.learners]];
}

/** Runs the cluster, ticking the leader's heartbeats, until `done` or `rounds` heartbeats. */
function settle(c: Cluster, leader: NodeId, done: () => boolean, rounds = 50): void {
  c.stabilize();
  for (let i = 0; i < rounds && !done(); i++) c.heartbeat(leader);
  assert.ok(done(), 'the cluster did not settle');
}

describe('JointConfig', () => {
  test('outside a joint configuration it is a plain majority', () => {
    const q = new JointConfig([1, 2, 3], []);
    assert.equal(q.committedIndex((id) => ({ 1: 5, 2: 4, 3: 1 })[id] ?? 0), 4);
    assert.equal(q.isQuorum(new Set([1, 3])), true);
    assert.equal(q.voteResult(new Map([[1, true], [2, false]])), 'pending');
  });

  test('joint: commitment and elections need a majority of both halves', () => {
    const q = new JointConfig([1, 4, 5], [1, 2, 3]);
    // C_new holds up to 9 by majority (1, 4), C_old only up to 3 (1 and 2 hold 3).
    const acked: Record<number, number> = { 1: 9, 2: 3, 3: 0, 4: 9, 5: 0 };
    assert.equal(q.committedIndex((id) => acked[id] ?? 0), 3);
    assert.equal(q.isQuorum(new Set([1, 4])), false, 'C_old has only 1');
    assert.equal(q.isQuorum(new Set([1, 2, 4])), true);
    assert.equal(q.voteResult(new Map([[1, true], [4, true], [5, true]])), 'pending');
    assert.equal(q.voteResult(new Map([[1, true], [4, true], [2, false], [3, false]])), 'lost');
    assert.equal(q.voteResult(new Map([[1, true], [4, true], [2, true]])), 'won');
    assert.deepEqual(q.voters, [1, 2, 3, 4, 5]);
  });

  test('no voters (a node waiting to join): nothing is ever a quorum', () => {
    const q = new JointConfig([], []);
    assert.equal(q.committedIndex(() => 10), 0);
    assert.equal(q.isQuorum(new Set([1, 2])), false);
    assert.equal(q.voteResult(new Map([[1, true]])), 'lost');
  });
});

describe('configuration changes (pure)', () => {
  test('learners are added and removed without a joint phase; their context is carried', () => {
    const a = applyConfChange(bootstrapConf([1, 2, 3]), addLearner(4, 'n4'));
    assert.deepEqual([a.voters, a.outgoing, a.learners, a.context], [[1, 2, 3], [], [4], { '4': 'n4' }]);
    const b = applyConfChange(a, remove(4));
    assert.deepEqual([b.voters, b.outgoing, b.learners, b.context], [[1, 2, 3], [], [], {}]);
  });

  test('a change of voters enters C_old,new; leaving it keeps C_new and drops the context of removed voters', () => {
    const withCtx: ConfState = { ...conf([1, 2, 3], [], [4]), context: { '1': 'n1', '4': 'n4' } };
    const joint = applyConfChange(withCtx, { steps: [{ type: 'promote', id: 4 }, { type: 'remove', id: 1 }] });
    assert.deepEqual([joint.voters, joint.outgoing, joint.learners], [[2, 3, 4], [1, 2, 3], []]);
    assert.ok(isJoint(joint));
    assert.equal(joint.context['1'], 'n1', 'a removed voter keeps its context while it is in C_old');
    const left = applyConfChange(joint, { steps: [] });
    assert.deepEqual([left.voters, left.outgoing, left.context], [[2, 3, 4], [], { '4': 'n4' }]);
  });

  const refused: [string, ConfState, ConfChange, RegExp][] = [
    ['another change while joint', conf([1, 2], [1, 2, 3]), addLearner(9), /joint configuration must be left/],
    ['leaving when not joint', conf([1, 2, 3]), { steps: [] }, /nothing to leave/],
    ['adding a member again', conf([1, 2, 3]), addLearner(2), /already a member.*new id/],
    ['promoting a non-learner', conf([1, 2, 3]), promote(5), /not a learner/],
    ['promoting a voter', conf([1, 2, 3]), promote(2), /already a voter/],
    ['removing a stranger', conf([1, 2, 3]), remove(7), /not a member/],
    ['removing the last voter', conf([1]), remove(1), /no voter/],
    ['one node twice', conf([1, 2, 3], [], [4]), { steps: [{ type: 'promote', id: 4 }, { type: 'remove', id: 4 }] }, /twice/],
  ];
  for (const [name, c, cc, re] of refused) {
    test(`refused: ${name}`, () => assert.throws(() => applyConfChange(c, cc), (e) => e instanceof ConfChangeError && re.test(e.message)));
  }

  test('the entry encoding round-trips and refuses other data', () => {
    const change: ConfChange = { steps: [{ type: 'addLearner', id: 4, context: '{"name":"n4"}' }, { type: 'promote', id: 3 }] };
    const e = { change, conf: applyConfChange(conf([1, 2], [], [3]), change) };
    assert.deepEqual(decodeConfEntry(encodeConfEntry(e)), e);
    assert.throws(() => decodeConfEntry(bytes('{"v":2,"steps":[]}')));
    assert.throws(() => decodeConfEntry(bytes('{"v":1,"steps":[]}')));
  });

  test('ConfigHistory: in force at an index, undone by truncation, moved by compaction, replaced by a snapshot', () => {
    const h = new ConfigHistory(0, bootstrapConf([1, 2, 3]));
    const c5 = applyConfChange(h.current.conf, addLearner(4));
    h.add(5, 2, c5);
    const c9 = applyConfChange(c5, promote(4));
    h.add(9, 3, c9);
    assert.equal(h.current.index, 9);
    assert.deepEqual(h.at(4), bootstrapConf([1, 2, 3]));
    assert.equal(h.at(7), c5);
    // The log now holds term 4 at index 9 (a new leader overwrote it): the promotion is undone.
    assert.equal(
      h.dropTruncated((i) => (i === 9 ? 4 : 2)),
      true,
    );
    assert.deepEqual([h.current.index, h.current.conf], [5, c5]);
    h.compactTo(7);
    assert.deepEqual([h.current.index, h.at(7)], [7, c5]);
    assert.throws(() => h.at(6));
    h.reset(20, bootstrapConf([7]));
    assert.deepEqual(h.current, { index: 20, conf: bootstrapConf([7]) });
  });
});

/** A 3-voter cluster led by node 1, and node 4 added as a learner that has caught up. */
function withLearner4(): { c: Cluster; leader: Raft } {
  const c = new Cluster([1, 2, 3]);
  const leader = c.elect(1);
  c.addNode(4);
  leader.proposeConfChange(addLearner(4));
  settle(c, 1, () => c.get(4).log.committed === leader.log.committed);
  return { c, leader };
}

describe('membership in a running cluster', () => {
  test('a new node joins as a learner: it catches up, never campaigns, and never counts', () => {
    const c = new Cluster([1, 2, 3]);
    const leader = c.elect(1);
    for (let i = 0; i < 5; i++) c.propose(1, `x${i}`);
    c.stabilize();
    const learner = c.addNode(4);
    assert.deepEqual(learner.voters, []);
    leader.proposeConfChange(addLearner(4, 'n4'));
    settle(c, 1, () => learner.log.lastIndex() === leader.log.lastIndex() && learner.log.committed === leader.log.committed);
    assert.deepEqual(voterSets(learner), [[1, 2, 3], [], [4]]);
    assert.equal(learner.conf.context['4'], 'n4');
    // A learner that hears nothing only asks (pre-votes): it raises no term and casts no vote.
    const term = learner.term;
    c.isolate(4);
    c.tick(4, 10 * DEFAULT_ELECTION);
    c.flush(4);
    assert.notEqual(learner.role, Role.Leader);
    assert.equal(learner.term, term);
    assert.equal(c.queue.filter((m) => m.from === 4 && m.type === MessageType.Vote).length, 0);
    c.heal();
    // Its acknowledgements do not count: with 2 and 3 cut off, nothing commits.
    c.drop((m) => m.from === 2 || m.from === 3);
    const idx = c.propose(1, 'only-with-the-learner');
    c.stabilize();
    assert.ok(learner.log.lastIndex() >= idx);
    assert.ok(leader.log.committed < idx, 'the learner acknowledged, but it must not count');
  });

  test('promoting a learner goes through C_old,new, which the leader leaves by itself once it commits', () => {
    const { c, leader } = withLearner4();
    const at = leader.proposeConfChange(promote(4));
    assert.deepEqual(voterSets(leader), [[1, 2, 3, 4], [1, 2, 3], []]);
    settle(c, 1, () => [1, 2, 3, 4].every((id) => !isJoint(c.get(id).conf) && c.get(id).log.committed === leader.log.committed));
    for (const id of [1, 2, 3, 4]) assert.deepEqual(voterSets(c.get(id)), [[1, 2, 3, 4], [], []], `node ${id}`);
    // The leave entry follows the joint one; it was appended by the leader, not proposed by anyone.
    assert.ok(leader.log.lastIndex() > at.index);
  });

  test('while joint, commitment needs a majority of C_old and of C_new', () => {
    const c = new Cluster([1, 2, 3]);
    const leader = c.elect(1);
    for (const id of [4, 5]) {
      c.addNode(id);
      leader.proposeConfChange(addLearner(id));
      settle(c, 1, () => c.get(id).log.committed === leader.log.committed);
    }
    // C_old = {1,2,3}, C_new = {1,4,5}. With 4 and 5 silent, C_new has only the leader.
    c.drop((m) => m.from === 4 || m.from === 5);
    const at = leader.proposeConfChange({ steps: [{ type: 'promote', id: 4 }, { type: 'promote', id: 5 }, { type: 'remove', id: 2 }, { type: 'remove', id: 3 }] });
    c.stabilize();
    assert.ok(leader.log.committed < at.index, 'C_old alone must not commit C_old,new');
    c.heal();
    settle(c, 1, () => !isJoint(leader.conf) && leader.log.committed === leader.log.lastIndex());
    assert.deepEqual(voterSets(leader), [[1, 4, 5], [], []]);
  });

  test('a removed leader leads until C_new commits, then steps down and never campaigns; the others elect a leader', () => {
    const c = new Cluster([1, 2, 3]);
    const leader = c.elect(1);
    c.propose(1, 'x');
    c.stabilize();
    leader.proposeConfChange(remove(1));
    settle(c, 1, () => leader.role !== Role.Leader);
    assert.deepEqual(voterSets(c.get(2)), [[2, 3], [], []]);
    assert.equal(leader.role, Role.Follower);
    c.tick(1, 10 * DEFAULT_ELECTION);
    assert.equal(ofType(c.queue, MessageType.Vote).filter((m) => m.from === 1).length, 0, 'a removed node never campaigns');
    c.campaign(2);
    c.stabilize();
    assert.equal(c.get(2).role, Role.Leader);
    c.propose(2, 'after');
    c.stabilize();
    c.tickAndStabilize(2);
    assert.equal(c.get(3).log.committed, c.get(2).log.lastIndex());
  });

  test('a removed leader tells the others that C_new committed before it steps down (sim seed 4534)', () => {
    const c = new Cluster([1, 2, 3]);
    const leader = c.elect(1);
    c.propose(1, 'x');
    c.stabilize();
    leader.proposeConfChange(remove(1));
    c.stabilize();
    assert.equal(leader.role, Role.Follower);
    // No heartbeat ticks: what the others know of the commit index came with the step-down.
    for (const id of [2, 3]) {
      assert.equal(c.get(id).log.committed, leader.log.committed, `node ${id} knows the leave entry committed`);
      assert.deepEqual(voterSets(c.get(id)), [[2, 3], [], []]);
    }
  });

  test('a removed node that never learned of its removal cannot disrupt the cluster', () => {
    const c = new Cluster([1, 2, 3]);
    const leader = c.elect(1);
    c.isolate(3);
    leader.proposeConfChange(remove(3));
    settle(c, 1, () => !isJoint(leader.conf) && leader.log.committed === leader.log.lastIndex());
    const term = leader.term;
    c.heal();
    // Node 3 still believes it is a voter: it campaigns, and is ignored.
    c.drop((m) => m.to === 3);
    c.campaign(3);
    c.stabilize();
    assert.equal(c.get(3).role, Role.Candidate);
    assert.equal(leader.term, term);
    assert.equal(c.get(2).term, term);
    assert.equal(leader.role, Role.Leader);
  });

  test('a removed leader holding the only electable log campaigns until C_new commits (dissertation §4.2.2; sim seed 1601)', () => {
    const c = new Cluster([1, 2, 3, 4]);
    const leader = c.elect(1);
    c.propose(1, 'x');
    c.stabilize();
    // Remove the leader: C_old = {1,2,3,4}, C_new = {2,3,4}. The joint entry commits everywhere,
    // but the leave entry the leader then appends reaches nobody, and node 4 dies for good.
    c.drop((m) => m.from === 1 && m.type === MessageType.App && m.entries.some((e) => !isJoint(decodeConfEntry(e.data).conf) && e.type === EntryType.ConfChange));
    leader.proposeConfChange(remove(1));
    c.stabilize();
    for (let i = 0; i < 3; i++) c.heartbeat(1);
    assert.ok(isJoint(c.get(2).conf));
    assert.deepEqual(voterSets(leader), [[2, 3, 4], [], []], 'the leader appended the leave entry');
    c.heal();
    c.isolate(4);
    c.isolate(1);
    // Node 2 (joint: needs 3 of C_old) cannot win with 2 and 3 alone; node 1's longer log refuses it.
    c.campaign(2);
    c.stabilize();
    c.heal();
    c.isolate(4);
    c.campaign(2);
    c.stabilize();
    assert.notEqual(c.get(2).role, Role.Leader);
    // Node 1 is no voter of its latest configuration, but of the last committed one: it campaigns,
    // wins a majority of C_new (2 and 3; its own vote does not count), commits C_new and steps down.
    c.campaign(1);
    c.stabilize();
    settle(c, 1, () => leader.role !== Role.Leader && !isJoint(c.get(2).conf));
    assert.deepEqual(voterSets(c.get(3)), [[2, 3, 4], [], []]);
    c.campaign(2);
    c.stabilize();
    assert.equal(c.get(2).role, Role.Leader, 'C_new elects a leader of its own');
  });

  test('a learner holding the only electable log gets it elected (sim seed 16642)', () => {
    // Voters 1, 2, 3 and learner 4. Leader 1 appends C_old,new (promoting 4) but nobody gets it.
    const { c, leader } = withLearner4();
    c.drop((m) => m.from === 1);
    leader.proposeConfChange(promote(4));
    c.stabilize();
    assert.ok(isJoint(leader.conf));
    // Leader 1 is cut off; 3 is elected by 2 and 3, and its entries reach only learner 4.
    c.heal();
    c.isolate(1);
    c.drop((m) => m.from === 3 && m.to !== 4 && m.type === MessageType.App);
    c.campaign(3);
    c.stabilize();
    assert.equal(c.get(3).role, Role.Leader);
    c.propose(3, 'only on the learner');
    c.stabilize();
    assert.ok(c.get(4).log.lastIndex() > c.get(1).log.lastIndex() && c.get(1).log.lastIndex() > c.get(2).log.lastIndex());
    // Node 3 dies for good. Node 1 (joint: needs 1, 2 and 4 of C_new) is refused by 4, whose log is newer;
    // node 2's log is behind node 1's. Without the learner, no leader could ever be elected.
    c.heal();
    c.isolate(3);
    for (let round = 0; round < 40 && ![1, 2, 4].some((id) => c.get(id).role === Role.Leader && !isJoint(c.get(id).conf) && c.get(id).voters.includes(id)); round++) {
      for (const id of [1, 2, 4]) c.tick(id, DEFAULT_ELECTION);
      c.stabilize();
      for (const id of [1, 2, 4]) if (c.get(id).role === Role.Leader) c.heartbeat(id);
    }
    const now = [1, 2].find((id) => c.get(id).role === Role.Leader);
    assert.ok(now !== undefined, 'a voter leads again');
    c.propose(now, 'after');
    c.stabilize();
    c.tickAndStabilize(now);
    assert.equal(c.get(1).log.committed, c.get(now).log.lastIndex());
    assert.equal(c.get(2).log.committed, c.get(now).log.lastIndex());
  });

  test('an uncommitted configuration entry that a new leader overwrites is undone', () => {
    const c = new Cluster([1, 2, 3, 4, 5]);
    const leader = c.elect(1);
    c.addNode(6);
    leader.proposeConfChange(addLearner(6));
    settle(c, 1, () => c.get(6).log.committed === leader.log.committed);
    // The promotion reaches only node 2, then the leader is cut off.
    c.drop((m) => m.from === 1 && m.to !== 2);
    leader.proposeConfChange(promote(6));
    c.stabilize();
    assert.ok(isJoint(c.get(2).conf), 'node 2 uses the joint configuration as soon as it appends it');
    c.heal();
    c.isolate(1);
    c.isolate(2);
    c.campaign(3);
    c.stabilize();
    assert.equal(c.get(3).role, Role.Leader);
    c.heal();
    c.isolate(1);
    c.propose(3, 'overwrite');
    settle(c, 3, () => c.get(2).log.committed === c.get(3).log.lastIndex());
    assert.deepEqual(voterSets(c.get(2)), [[1, 2, 3, 4, 5], [], [6]], 'the truncated promotion no longer counts');
  });

  test('a new leader elected in the middle of a transition finishes it', () => {
    const { c, leader } = withLearner4();
    const at = leader.proposeConfChange(promote(4));
    // C_old,new reaches everyone, but the leader dies before anyone learns of the leave entry.
    c.flush(1);
    c.deliverAll();
    for (const id of [2, 3, 4]) c.flush(id);
    c.isolate(1);
    c.stabilize();
    for (const id of [2, 3, 4]) assert.ok(isJoint(c.get(id).conf), `node ${id} is joint`);
    c.campaign(2);
    c.stabilize();
    assert.equal(c.get(2).role, Role.Leader);
    settle(c, 2, () => [2, 3, 4].every((id) => !isJoint(c.get(id).conf)));
    assert.deepEqual(voterSets(c.get(3)), [[1, 2, 3, 4], [], []]);
    assert.ok(c.get(2).log.committed > at.index);
  });

  test('at most one change in flight, and none before the leader has committed in its term', () => {
    const c = new Cluster([1, 2, 3]);
    const leader = c.elect(1);
    c.addNode(4);
    c.addNode(5);
    c.drop(() => true);
    leader.proposeConfChange(addLearner(4));
    assert.throws(() => leader.proposeConfChange(addLearner(5)), /has not committed yet/);
    c.heal();
    settle(c, 1, () => leader.log.committed === leader.log.lastIndex());
    leader.proposeConfChange(addLearner(5));
    assert.throws(() => c.get(2).proposeConfChange(addLearner(6)), /not the leader/);
    // A new leader whose no-op has not committed yet has committed nothing of its term.
    const d = new Cluster([1, 2, 3]);
    d.drop((m) => m.type === MessageType.AppResp);
    d.campaign(1);
    d.stabilize();
    const l2 = d.get(1);
    assert.equal(l2.role, Role.Leader);
    assert.throws(() => l2.proposeConfChange(addLearner(7)), /not yet committed an entry of its term/);
    d.heal();
    d.heartbeat(1);
    assert.doesNotThrow(() => l2.proposeConfChange(addLearner(7)));
    // Without the election no-op, changes are refused: a new leader could not finish one until a client writes.
    const e = new Cluster([1, 2, 3], { noopOnElection: false });
    const l3 = e.elect(1);
    e.propose(1, 'x');
    e.stabilize();
    assert.throws(() => l3.proposeConfChange(addLearner(7)), /need noopOnElection/);
  });

  test('a learner far behind is not promoted', () => {
    const c = new Cluster([1, 2, 3], { maxLearnerLag: 3 });
    const leader = c.elect(1);
    c.addNode(4);
    c.isolate(4);
    leader.proposeConfChange(addLearner(4));
    c.stabilize();
    for (let i = 0; i < 10; i++) c.propose(1, `x${i}`);
    c.stabilize();
    assert.throws(() => leader.proposeConfChange(promote(4)), /entries behind .*at most 3/);
    c.heal();
    settle(c, 1, () => c.get(4).log.lastIndex() === leader.log.lastIndex());
    assert.doesNotThrow(() => leader.proposeConfChange(promote(4)));
  });

  test('snapshots carry the configuration in force at their index; installing one adopts it', () => {
    const c = new Cluster([1, 2, 3]);
    const leader = c.elect(1);
    c.addNode(4);
    leader.proposeConfChange(addLearner(4, 'n4'));
    c.isolate(4);
    settle(c, 1, () => leader.log.committed === leader.log.lastIndex());
    for (let i = 0; i < 3; i++) c.propose(1, `x${i}`);
    c.stabilize();
    leader.compact(leader.log.applied, bytes('state'));
    assert.deepEqual(leader.snapshot?.meta.conf, { voters: [1, 2, 3], outgoing: [], learners: [4], context: { '4': 'n4' } });
    c.heal();
    settle(c, 1, () => c.get(4).log.committed === leader.log.committed);
    assert.equal(c.appliedSnapshots.get(4)!.length, 1, 'node 4 caught up from the snapshot');
    assert.deepEqual(voterSets(c.get(4)), [[1, 2, 3], [], [4]]);
    // A restart recovers the configuration from the snapshot and the log after it.
    const again = c.restart(4);
    assert.deepEqual(voterSets(again), [[1, 2, 3], [], [4]]);
    assert.equal(again.conf.context['4'], 'n4');
  });
});

describe('leadership transfer', () => {
  test('to an up-to-date voter: it campaigns at once and wins; proposals wait for the new leader', () => {
    const c = new Cluster([1, 2, 3], { checkQuorum: true, preVote: true });
    const leader = c.elect(1);
    c.propose(1, 'x');
    c.stabilize();
    const term = leader.term;
    c.drop(() => true);
    assert.equal(leader.transferLeader(3), 3);
    assert.equal(leader.propose(bytes('refused')), null, 'no proposals during a transfer');
    c.heal();
    c.stabilize();
    assert.equal(c.get(3).role, Role.Leader);
    assert.equal(c.get(3).term, term + 1);
    assert.equal(leader.role, Role.Follower);
    // The vote was asked for with the transfer flag, which followers with a live leader honour.
    assert.ok(ofType(c.sent, MessageType.Vote).some((m) => m.from === 3 && m.transfer === true));
  });

  test('to a voter that is behind: the leader first brings it up to date', () => {
    const c = new Cluster([1, 2, 3]);
    const leader = c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 5; i++) c.propose(1, `x${i}`);
    c.stabilize();
    c.heal();
    const last = leader.log.lastIndex();
    leader.transferLeader(3);
    c.flush(1);
    assert.equal(ofType(c.queue, MessageType.TimeoutNow).length, 0, 'not before node 3 is up to date');
    c.stabilize();
    const timeoutNow = ofType(c.sent, MessageType.TimeoutNow);
    assert.equal(timeoutNow.length, 1);
    assert.equal(timeoutNow[0]!.lastIndex, last);
    assert.equal(c.get(3).role, Role.Leader);
  });

  test('a transfer that cannot finish is abandoned after an election timeout; reads fail while it lasts', () => {
    const c = new Cluster([1, 2, 3]);
    const leader = c.elect(1);
    c.isolate(3);
    leader.transferLeader(3);
    assert.equal(leader.readIndex(42), true);
    assert.deepEqual(drain(leader).failedReads, [42]);
    c.tick(1, DEFAULT_ELECTION);
    assert.equal(leader.transferTarget, null);
    assert.ok(leader.propose(bytes('accepted again')) !== null);
    assert.throws(() => leader.transferLeader(1), /already the leader/);
    assert.throws(() => leader.transferLeader(9), /not a voter/);
  });

  test('without a target the most up-to-date voter is chosen', () => {
    const c = new Cluster([1, 2, 3]);
    const leader = c.elect(1);
    c.isolate(2);
    c.propose(1, 'x');
    c.stabilize();
    assert.equal(leader.transferLeader(null), 3);
  });
});

describe('a follower that lost entries it had acknowledged', () => {
  test('is caught up from where its log really ends, without a storm of probes', () => {
    const lost: { id: NodeId; match: number; lastIndex: number }[] = [];
    const c = new Cluster([1, 2, 3], (id) => (id === 1 ? { observer: { onFollowerLostEntries: (i) => lost.push(i) } } : {}));
    const leader = c.elect(1);
    for (let i = 0; i < 20; i++) c.propose(1, `x${i}`);
    c.stabilize();
    const last = leader.log.lastIndex();
    assert.equal(leader.progressOf(3)!.match, last);
    c.wipe(3);
    const before = c.sent.length;
    // Idle: the next heartbeat tells node 3 a commit index beyond its log, and it says so.
    settle(c, 1, () => c.get(3).log.lastIndex() === last, 5);
    assert.deepEqual(lost, [{ id: 3, match: last, lastIndex: 0 }]);
    const msgs = c.sent.slice(before).filter((m: Message) => m.from === 1 && m.to === 3 && m.type === MessageType.App);
    assert.ok(msgs.length <= 6, `caught up with ${msgs.length} appends, not a probe loop`);
  });
});
