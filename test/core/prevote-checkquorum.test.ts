// Pre-vote, check quorum and forwarded proposals.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageType } from '../../src/core/types.js';
import { Cluster, DEFAULT_ELECTION, text } from './helpers.js';

const opts = { preVote: true, checkQuorum: true, noopOnElection: true };

test('a cut-off node with pre-vote does not raise its term, and does not disrupt the leader when it returns', () => {
  const c = new Cluster([1, 2, 3], opts);
  const leader = c.elect(1);
  c.propose(1, 'a');
  c.stabilize();
  const term = leader.term;
  c.isolate(3);
  for (let i = 0; i < 10; i++) {
    c.tick(3, 2 * DEFAULT_ELECTION);
    c.stabilize();
  }
  assert.equal(c.get(3).term, term, 'pre-votes that find no majority leave the term alone');
  assert.equal(c.get(3).role, 'precandidate');
  c.heal();
  c.heartbeat(1);
  assert.equal(leader.role, 'leader');
  assert.equal(leader.term, term, 'no election happened');
  assert.equal(c.get(3).role, 'follower');
  assert.equal(c.get(3).leader, 1);
});

test('pre-vote with an up-to-date log leads to a real campaign in the next term', () => {
  const c = new Cluster([1, 2, 3], opts);
  c.campaign(2);
  c.stabilize();
  const r = c.get(2);
  assert.equal(r.role, 'leader');
  assert.equal(r.term, 1);
  const pre = c.sentWhere((m) => m.type === MessageType.PreVote);
  assert.ok(pre.length >= 2 && pre.every((m) => m.term === 1), 'pre-votes ask for term 1 while the candidate is still in term 0');
});

test('followers that hear from a live leader refuse pre-votes and votes (check quorum)', () => {
  const c = new Cluster([1, 2, 3], opts);
  const leader = c.elect(1);
  const term = leader.term;
  // Node 3 cannot hear the leader, but can reach node 2, which can.
  c.drop((m) => (m.from === 1 && m.to === 3) || (m.from === 3 && m.to === 1));
  c.tick(3, 2 * DEFAULT_ELECTION);
  c.stabilize();
  assert.equal(c.get(2).term, term);
  assert.equal(leader.role, 'leader');
  assert.equal(leader.term, term);
  const refused = c.sentWhere((m) => m.type === MessageType.PreVoteResp && m.from === 2 && !m.granted);
  assert.ok(refused.length > 0);
});

test('a leader that hears from no majority for an election timeout steps down (check quorum)', () => {
  const c = new Cluster([1, 2, 3], opts);
  const leader = c.elect(1);
  c.isolate(1);
  c.tick(1, DEFAULT_ELECTION);
  c.stabilize();
  c.tick(1, DEFAULT_ELECTION);
  c.stabilize();
  assert.equal(leader.role, 'follower');
  assert.equal(leader.leader, null);
});

test('a follower forwards proposals to the leader, which appends them', () => {
  const c = new Cluster([1, 2, 3], opts);
  c.elect(1);
  assert.equal(c.get(2).forward(new TextEncoder().encode('via-2')), 1);
  c.stabilize();
  c.tickAndStabilize(1); // follower 3 hears of the commit at the leader's next tick (2, the proposer, at once)
  const applied = c.applied.get(3)!.map((e) => text(e.data));
  assert.ok(applied.includes('via-2'));
  assert.equal(c.get(1).forward(new Uint8Array([1])), null, 'the leader proposes, it does not forward');
  const lone = new Cluster([1, 2, 3], opts);
  assert.equal(lone.get(2).forward(new Uint8Array([1])), null, 'no known leader: nothing to forward to');
});
