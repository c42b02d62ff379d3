// Message-by-message tests of the rules in Figure 2 of the Raft paper
// ("In Search of an Understandable Consensus Algorithm"), run against the pure core.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftInvariantError } from '../../src/core/errors.js';
import { ConfigError } from '../../src/core/config.js';
import { EntryType, MessageType, Role, type Message, type NodeId } from '../../src/core/types.js';
import { SeededRandom } from '../../src/util/random.js';
import {
  Cluster,
  app,
  appResp,
  bytes,
  constRandom,
  drain,
  drainMsgs,
  entry,
  ents,
  heartbeat,
  heartbeatResp,
  logTerms,
  makeCandidate,
  makeLeader,
  newRaft,
  ofType,
  snap,
  snapResp,
  text,
  tickUntilCampaign,
  vote,
  voteResp,
} from './helpers.js';

// ---------------------------------------------------------------------------------
// All servers: terms
// ---------------------------------------------------------------------------------

describe('stale terms', () => {
  // A follower in term 3 holding [1@1, 2@2]; every request below would succeed in term 3.
  const follower = (random = constRandom(0)) => newRaft(2, [1, 2, 3], { random }, { term: 3, entries: ents([1, 2]) });

  test('an append from a lower term is rejected with our term and changes nothing', () => {
    const r = follower();
    const resp = r.step(app(1, 2, 2, { prevIndex: 2, prevTerm: 2, entries: [entry(3, 2)], commit: 2 }));
    assert.deepEqual(resp, appResp(2, 1, 3, { success: false, index: 2, hintTerm: 0, hintIndex: 0 }));
    assert.equal(r.term, 3);
    assert.equal(r.leader, null);
    assert.equal(r.log.lastIndex(), 2);
    assert.equal(r.log.committed, 0);
    const rd = drain(r);
    assert.deepEqual(rd.messages, [resp]);
    assert.deepEqual(rd.entries, []);
    assert.equal(rd.hardState, undefined);
  });

  test('a vote request from a lower term is refused with our term, even for a longer log', () => {
    const r = follower();
    const resp = r.step(vote(3, 2, 2, 9, 2));
    assert.deepEqual(resp, voteResp(2, 3, 3, false));
    assert.equal(r.vote, null);
    assert.equal(r.term, 3);
    assert.equal(drain(r).hardState, undefined);
  });

  test('a heartbeat from a lower term is answered with our term and neither commits nor resets the election timer', () => {
    const r = follower(constRandom(0)); // election timeout exactly 10 ticks
    for (let i = 0; i < 9; i++) r.tick();
    const resp = r.step(heartbeat(1, 2, 2, 2));
    assert.deepEqual(resp, heartbeatResp(2, 1, 3));
    assert.equal(r.log.committed, 0);
    assert.equal(r.leader, null);
    r.tick();
    assert.equal(r.role, Role.Candidate, 'the stale heartbeat must not have reset the timer');
    assert.equal(r.term, 4);
  });

  test('a snapshot chunk from a lower term is refused with our term and not installed', () => {
    const r = follower();
    const data = bytes('state');
    const resp = r.step(snap(1, 2, 2, { index: 5, term: 2 }, data, 0, data.length));
    assert.deepEqual(resp, snapResp(2, 1, 3, { snapIndex: 5, offset: 0, done: false, index: 0 }));
    assert.equal(r.log.snapIndex, 0);
    assert.equal(r.log.lastIndex(), 2);
    assert.equal(drain(r).applySnapshot, undefined);
  });

  test('a leader ignores an append acknowledgement from an earlier term', () => {
    const r = newRaft(1, [1, 2, 3], { noopOnElection: false }, { term: 2, entries: ents([1, 1, 2, 2, 2]) });
    makeLeader(r);
    assert.equal(r.term, 3);
    assert.equal(r.step(appResp(2, 1, 2, { success: true, index: 5 })), undefined);
    assert.equal(r.progressOf(2)!.match, 0);
    assert.equal(r.progressOf(2)!.state, 'probe');
    assert.equal(r.hasReady(), false);
    // The same acknowledgement in the current term does count.
    r.step(appResp(2, 1, 3, { success: true, index: 5 }));
    assert.equal(r.progressOf(2)!.match, 5);
    assert.equal(r.progressOf(2)!.state, 'replicate');
  });

  test('a candidate ignores a vote grant from an earlier term', () => {
    const r = newRaft(1, [1, 2, 3], {}, { term: 1 });
    makeCandidate(r);
    assert.equal(r.term, 2);
    r.step(voteResp(2, 1, 1, true));
    assert.equal(r.role, Role.Candidate);
    r.step(voteResp(2, 1, 2, true));
    assert.equal(r.role, Role.Leader);
  });

  // Every message type, sent with a higher term to a leader or a candidate.
  const higher: Array<[string, (t: number) => Message, NodeId | null]> = [
    ['Vote (refused: log behind)', (t) => vote(3, 1, t, 0, 0), null],
    ['VoteResp', (t) => voteResp(3, 1, t, false), null],
    ['App', (t) => app(3, 1, t, { prevIndex: 0, prevTerm: 0 }), 3],
    ['AppResp', (t) => appResp(3, 1, t, { success: false, index: 0 }), null],
    ['Heartbeat', (t) => heartbeat(3, 1, t, 0), 3],
    ['HeartbeatResp', (t) => heartbeatResp(3, 1, t), null],
    ['Snap', (t) => snap(3, 1, t, { index: 1, term: 1 }, bytes('s'), 0, 1), 3],
    ['SnapResp', (t) => snapResp(3, 1, t, { snapIndex: 0, offset: 0, done: false, index: 0 }), null],
  ];

  for (const from of ['leader', 'candidate'] as const) {
    for (const [name, make, leader] of higher) {
      test(`a ${from} receiving ${name} with a higher term becomes a follower of that term with no vote`, () => {
        const r = newRaft(1, [1, 2, 3], {}, { term: 1, entries: ents([1]) });
        if (from === 'leader') makeLeader(r);
        else makeCandidate(r);
        assert.equal(r.term, 2);
        assert.equal(r.vote, 1);
        r.step(make(5));
        assert.equal(r.role, Role.Follower);
        assert.equal(r.term, 5);
        assert.equal(r.vote, null);
        assert.equal(r.leader, leader);
        assert.equal(r.progressOf(2), undefined);
        const rd = drain(r);
        assert.equal(rd.hardState?.term, 5);
        assert.equal(rd.hardState?.vote, null);
        assert.equal(rd.mustSync, true);
        assert.deepEqual(rd.softState, { role: Role.Follower, leader });
      });
    }
  }

  test('a follower adopts a higher term from a heartbeat and forgets its vote', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 2, vote: 3 });
    r.step(heartbeat(1, 2, 4, 0));
    assert.equal(r.term, 4);
    assert.equal(r.vote, null);
    assert.equal(r.leader, 1);
    const rd = drain(r);
    assert.deepEqual(rd.hardState, { term: 4, vote: null, commit: 0 });
    assert.equal(rd.mustSync, true);
    assert.deepEqual(rd.messages, [heartbeatResp(2, 1, 4)]);
  });

  test('messages to another node, or from ourselves, are ignored; from a non-member only a leader\'s and vote requests count', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 1 });
    assert.equal(r.step(vote(1, 3, 5, 0, 0)), undefined);
    assert.equal(r.step(vote(2, 2, 5, 0, 0)), undefined);
    assert.equal(r.step(appResp(9, 2, 1, { success: true, index: 1 })), undefined);
    assert.equal(r.step(heartbeatResp(9, 2, 1)), undefined);
    assert.equal(r.term, 1);
    assert.equal(r.hasReady(), false);
  });

  test('a vote request from a non-member is answered when no leader is heard (a voter our log does not name yet: sim seed 884), refused while one is', () => {
    const r = newRaft(1, [1, 2, 3], {}, { term: 1, entries: ents([1]) });
    const resp = r.step(vote(4, 1, 2, 33, 1)) as { granted: boolean; term: number };
    assert.deepEqual([resp.granted, resp.term, r.term, r.vote], [true, 2, 2, 4]);

    const f = newRaft(1, [1, 2, 3], {}, { term: 1, entries: ents([1]) });
    f.step(heartbeat(2, 1, 1, 0));
    const refused = f.step(vote(4, 1, 2, 33, 1)) as { granted: boolean; term: number };
    assert.deepEqual([refused.granted, refused.term, f.term, f.vote], [false, 1, 1, null], 'a stranger does not disrupt a live leader');
  });
});

// ---------------------------------------------------------------------------------
// Elections
// ---------------------------------------------------------------------------------

describe('leader election', () => {
  test('a follower campaigns exactly when its randomized timeout expires', () => {
    // constRandom(3): timeout = electionTicks + 3 = 13.
    const r = newRaft(2, [1, 2, 3], { random: constRandom(3) }, { term: 1, entries: ents([1, 1]) });
    for (let i = 0; i < 12; i++) r.tick();
    assert.equal(r.role, Role.Follower);
    assert.equal(r.hasReady(), false);
    r.tick();
    assert.equal(r.role, Role.Candidate);
    assert.equal(r.term, 2);
    assert.equal(r.vote, 2);
    assert.equal(r.leader, null);
    const rd = drain(r);
    assert.deepEqual(rd.messages, [vote(2, 1, 2, 2, 1), vote(2, 3, 2, 2, 1)]);
    assert.deepEqual(rd.hardState, { term: 2, vote: 2, commit: 0 });
    assert.deepEqual(rd.softState, { role: Role.Candidate, leader: null });
    assert.equal(rd.mustSync, true);
  });

  test('election timeouts are randomized over [T, 2T), for followers and for candidates retrying', () => {
    const T = 10;
    const seen = new Set<number>();
    for (let seed = 1; seed <= 300; seed++) {
      const r = newRaft(1, [1, 2, 3], { electionTicks: T, random: new SeededRandom(seed) });
      const first = tickUntilCampaign(r);
      assert.ok(first >= T && first < 2 * T, `seed ${seed}: campaigned after ${first} ticks`);
      seen.add(first);
      assert.equal(r.term, 1);
      // A candidate that hears nothing retries after a fresh random timeout, in a new term.
      const retry = tickUntilCampaign(r);
      assert.ok(retry >= T && retry < 2 * T, `seed ${seed}: retried after ${retry} ticks`);
      assert.equal(r.role, Role.Candidate);
      assert.equal(r.term, 2);
      seen.add(retry);
    }
    assert.deepEqual([...seen].sort((a, b) => a - b), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  });

  test('a candidate that gets no answers starts a new election with term + 1 and asks again', () => {
    const r = newRaft(1, [1, 2, 3], { random: constRandom(0) }, { term: 4, entries: ents([1, 4]) });
    makeCandidate(r);
    assert.equal(r.term, 5);
    for (let i = 0; i < 9; i++) r.tick();
    assert.equal(r.term, 5);
    r.tick();
    assert.equal(r.term, 6);
    assert.equal(r.role, Role.Candidate);
    assert.deepEqual(drainMsgs(r), [vote(1, 2, 6, 2, 4), vote(1, 3, 6, 2, 4)]);
  });

  test('one vote per term: a second candidate is refused, the same candidate is granted again', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 1 });
    assert.deepEqual(r.step(vote(1, 2, 1, 0, 0)), voteResp(2, 1, 1, true));
    assert.equal(r.vote, 1);
    assert.deepEqual(r.step(vote(3, 2, 1, 0, 0)), voteResp(2, 3, 1, false));
    assert.equal(r.vote, 1);
    assert.deepEqual(r.step(vote(1, 2, 1, 0, 0)), voteResp(2, 1, 1, true));
    // A new term frees the vote.
    assert.deepEqual(r.step(vote(3, 2, 2, 0, 0)), voteResp(2, 3, 2, true));
    assert.equal(r.term, 2);
    assert.equal(r.vote, 3);
  });

  test('a vote recorded before a restart still binds the term', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 3, vote: 1 });
    assert.deepEqual(r.step(vote(3, 2, 3, 0, 0)), voteResp(2, 3, 3, false));
    assert.deepEqual(r.step(vote(1, 2, 3, 0, 0)), voteResp(2, 1, 3, true));
  });

  // Our log: [1,1,2,2,3] (last index 5, last term 3).
  const upToDate: Array<[lastTerm: number, lastIndex: number, granted: boolean]> = [
    [4, 1, true], // higher last term wins, even with a shorter log
    [3, 6, true], // same last term, longer
    [3, 5, true], // same last term, same length
    [3, 4, false], // same last term, shorter
    [2, 9, false], // lower last term loses, even with a longer log
    [0, 0, false], // empty log
  ];
  for (const [lastTerm, lastIndex, granted] of upToDate) {
    test(`up-to-date check: candidate log ending at index ${lastIndex} term ${lastTerm} is ${granted ? 'granted' : 'refused'} against [1,1,2,2,3]`, () => {
      const r = newRaft(2, [1, 2, 3], {}, { term: 3, entries: ents([1, 1, 2, 2, 3]) });
      assert.deepEqual(r.step(vote(1, 2, 4, lastIndex, lastTerm)), voteResp(2, 1, 4, granted));
      assert.equal(r.term, 4);
      assert.equal(r.vote, granted ? 1 : null);
    });
  }

  test('a follower that hears from a leader refuses other candidates of that term', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 1 });
    r.step(heartbeat(1, 2, 1, 0));
    assert.equal(r.leader, 1);
    assert.deepEqual(r.step(vote(3, 2, 1, 5, 1)), voteResp(2, 3, 1, false));
    assert.equal(r.vote, null);
    // A later term is a new election.
    assert.deepEqual(r.step(vote(3, 2, 2, 5, 1)), voteResp(2, 3, 2, true));
  });

  test('granting a vote resets the election timer; refusing one does not', () => {
    const granted = newRaft(2, [1, 2, 3], { random: constRandom(0) }, { term: 1 });
    for (let i = 0; i < 9; i++) granted.tick();
    assert.equal(granted.step(vote(1, 2, 1, 0, 0))!.type, MessageType.VoteResp);
    assert.equal(granted.vote, 1);
    for (let i = 0; i < 9; i++) granted.tick();
    assert.equal(granted.role, Role.Follower);
    granted.tick();
    assert.equal(granted.role, Role.Candidate);

    const refused = newRaft(2, [1, 2, 3], { random: constRandom(0) }, { term: 1, entries: ents([1]) });
    for (let i = 0; i < 9; i++) refused.tick();
    assert.deepEqual(refused.step(vote(1, 2, 1, 0, 0)), voteResp(2, 1, 1, false));
    refused.tick();
    assert.equal(refused.role, Role.Candidate);
  });

  test('hearing from the leader resets the election timer', () => {
    const r = newRaft(2, [1, 2, 3], { random: constRandom(0) }, { term: 1 });
    for (let i = 0; i < 9; i++) r.tick();
    r.step(heartbeat(1, 2, 1, 0));
    for (let i = 0; i < 9; i++) r.tick();
    assert.equal(r.role, Role.Follower);
    r.tick();
    assert.equal(r.role, Role.Candidate);
  });

  test('a candidate wins once a majority (itself included) grants, counting each voter once', () => {
    const r = newRaft(1, [1, 2, 3, 4, 5]);
    makeCandidate(r);
    assert.equal(r.term, 1);
    r.step(voteResp(2, 1, 1, true));
    assert.equal(r.role, Role.Candidate);
    r.step(voteResp(3, 1, 1, false));
    r.step(voteResp(2, 1, 1, true)); // a duplicate grant is not a second vote
    assert.equal(r.role, Role.Candidate);
    r.step(voteResp(4, 1, 1, true));
    assert.equal(r.role, Role.Leader);
    assert.equal(r.leader, 1);
    assert.equal(r.term, 1);
    const rd = drain(r);
    assert.deepEqual(rd.softState, { role: Role.Leader, leader: 1 });
    assert.deepEqual(
      ofType(rd.messages, MessageType.App).map((m) => m.to),
      [2, 3, 4, 5],
    );
  });

  test('a candidate steps down when a majority refuses, keeping its own vote', () => {
    const r = newRaft(1, [1, 2, 3, 4, 5]);
    makeCandidate(r);
    r.step(voteResp(2, 1, 1, false));
    r.step(voteResp(3, 1, 1, false));
    assert.equal(r.role, Role.Candidate, 'two refusals of five can still be overcome');
    r.step(voteResp(4, 1, 1, false));
    assert.equal(r.role, Role.Follower);
    assert.equal(r.term, 1);
    assert.equal(r.vote, 1);
    assert.equal(r.leader, null);
    assert.deepEqual(drain(r).softState, { role: Role.Follower, leader: null });
    // A late grant changes nothing.
    r.step(voteResp(5, 1, 1, true));
    assert.equal(r.role, Role.Follower);
  });

  const fromLeader: Array<[string, Message, Message]> = [
    ['an append', app(3, 1, 2, { prevIndex: 0, prevTerm: 0 }), appResp(1, 3, 2, { success: true, index: 0 })],
    ['a heartbeat', heartbeat(3, 1, 2, 0), heartbeatResp(1, 3, 2)],
  ];
  for (const [name, msg, want] of fromLeader) {
    test(`a candidate that receives ${name} from a leader of its term becomes its follower`, () => {
      const r = newRaft(1, [1, 2, 3], {}, { term: 1 });
      makeCandidate(r);
      assert.equal(r.term, 2);
      assert.deepEqual(r.step(msg), want);
      assert.equal(r.role, Role.Follower);
      assert.equal(r.leader, 3);
      assert.equal(r.term, 2);
      assert.equal(r.vote, 1);
    });
  }

  test('a single-node cluster elects itself and commits on its own persistence', () => {
    const r = newRaft(1, [1], { random: constRandom(0) });
    for (let i = 0; i < 9; i++) r.tick();
    assert.equal(r.role, Role.Follower);
    r.tick();
    assert.equal(r.role, Role.Leader);
    assert.equal(r.term, 1);
    const rd = r.ready();
    assert.deepEqual(rd.softState, { role: Role.Leader, leader: 1 });
    assert.deepEqual(rd.hardState, { term: 1, vote: 1, commit: 0 });
    assert.deepEqual(rd.messages, []);
    assert.deepEqual(
      rd.entries.map((e) => [e.index, e.term, e.type]),
      [[1, 1, EntryType.Noop]],
    );
    assert.equal(r.log.committed, 0, 'not durable yet');
    r.advance(rd);
    assert.equal(r.log.committed, 1);
    const rd2 = drain(r);
    assert.deepEqual(
      rd2.committedEntries.map((e) => e.index),
      [1],
    );
    assert.deepEqual(rd2.hardState, { term: 1, vote: 1, commit: 1 });
    assert.equal(rd2.mustSync, false);
    assert.deepEqual(r.propose(bytes('x')), { index: 2, term: 1 });
    drain(r);
    assert.equal(r.log.committed, 2);
    assert.deepEqual(
      drain(r).committedEntries.map((e) => text(e.data)),
      ['x'],
    );
  });

  test('in a cluster, the first node to time out wins and the others follow', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(2);
    c.tickAndStabilize(2); // the followers hear of the no-op's commit at the leader's next tick
    for (const id of [1, 2, 3]) {
      assert.equal(c.get(id).term, 1);
      assert.equal(c.get(id).leader, 2);
      assert.equal(c.get(id).log.committed, 1);
    }
    assert.equal(c.get(1).vote, 2);
    assert.equal(c.get(3).vote, 2);
  });
});

// ---------------------------------------------------------------------------------
// Leaders
// ---------------------------------------------------------------------------------

describe('leader', () => {
  test('on election it appends a no-op of its term and sends it as a probe to every follower', () => {
    const r = newRaft(1, [1, 2, 3], {}, { term: 1, entries: ents([1, 1]) });
    makeCandidate(r);
    r.step(voteResp(2, 1, 2, true));
    assert.equal(r.role, Role.Leader);
    const noop = r.log.entryAt(3)!;
    assert.deepEqual([noop.index, noop.term, noop.type, noop.data.length], [3, 2, EntryType.Noop, 0]);
    const rd = drain(r);
    assert.deepEqual(rd.entries, [noop]);
    assert.deepEqual(rd.messages, [
      app(1, 2, 2, { prevIndex: 2, prevTerm: 1, entries: [noop], commit: 0 }),
      app(1, 3, 2, { prevIndex: 2, prevTerm: 1, entries: [noop], commit: 0 }),
    ]);
    const pr = r.progressOf(3)!;
    assert.deepEqual([pr.state, pr.next, pr.match, pr.isPaused()], ['probe', 3, 0, true]);
  });

  test('with noopOnElection false it sends empty probes and appends nothing', () => {
    const r = newRaft(1, [1, 2, 3], { noopOnElection: false }, { term: 1, entries: ents([1, 1]) });
    makeCandidate(r);
    r.step(voteResp(3, 1, 2, true));
    const rd = drain(r);
    assert.equal(r.log.lastIndex(), 2);
    assert.deepEqual(rd.entries, []);
    assert.deepEqual(rd.messages, [app(1, 2, 2, { prevIndex: 2, prevTerm: 1 }), app(1, 3, 2, { prevIndex: 2, prevTerm: 1 })]);
  });

  test('it sends heartbeats every heartbeatTicks, carrying min(match, commit) per follower', () => {
    const c = new Cluster([1, 2, 3], { heartbeatTicks: 3 });
    const leader = c.elect(1);
    c.isolate(3);
    c.propose(1, 'a');
    c.propose(1, 'b');
    c.stabilize();
    assert.equal(leader.log.committed, 3);
    assert.equal(leader.progressOf(2)!.match, 3);
    assert.equal(leader.progressOf(3)!.match, 1);
    // Follower 2 hears of commit 3 at the next tick; this interval's heartbeat follows at its third.
    c.tickAndStabilize(1);
    assert.equal(c.get(2).log.committed, 3);
    c.tick(1, 2);
    c.stabilize();
    for (let round = 0; round < 3; round++) {
      leader.tick();
      leader.tick();
      assert.equal(leader.hasReady(), false, `round ${round}: no heartbeat before heartbeatTicks`);
      leader.tick();
      const rd = c.flush(1)!;
      assert.deepEqual(rd.messages, [heartbeat(1, 2, 1, 3), heartbeat(1, 3, 1, 1)]);
      c.stabilize();
    }
  });

  test('propose returns consecutive indices in the current term, and null when not leader', () => {
    const r = newRaft(1, [1, 2, 3]);
    makeLeader(r); // no-op at 1
    assert.deepEqual(r.propose(bytes('a')), { index: 2, term: 1 });
    assert.deepEqual(r.propose(bytes('b')), { index: 3, term: 1 });
    assert.deepEqual(r.propose(bytes('c')), { index: 4, term: 1 });
    assert.deepEqual(logTerms(r), [1, 1, 1, 1]);
    assert.deepEqual(
      drain(r).entries.map((e) => text(e.data)),
      ['a', 'b', 'c'],
    );

    const follower = newRaft(2, [1, 2, 3]);
    assert.equal(follower.propose(bytes('a')), null);
    assert.equal(follower.log.lastIndex(), 0);
    const candidate = newRaft(3, [1, 2, 3]);
    makeCandidate(candidate);
    assert.equal(candidate.propose(bytes('a')), null);
    assert.equal(candidate.log.lastIndex(), 0);
  });
});

// ---------------------------------------------------------------------------------
// Log replication
// ---------------------------------------------------------------------------------

describe('log replication: follower side', () => {
  // Follower log [1,1,2,2,2] in term 4.
  const rejections: Array<[string, number, number, number, number]> = [
    // name, prevIndex, prevTerm, hintTerm, hintIndex
    ['log too short', 7, 3, 0, 6],
    ['conflict inside term 2', 4, 3, 2, 3],
    ['conflict at the last entry', 5, 4, 2, 3],
    ['conflict inside term 1', 2, 3, 1, 1],
  ];
  for (const [name, prevIndex, prevTerm, hintTerm, hintIndex] of rejections) {
    test(`rejects an append whose prev entry does not match (${name}) with hint (${hintTerm}, ${hintIndex})`, () => {
      const r = newRaft(2, [1, 2, 3], {}, { term: 4, entries: ents([1, 1, 2, 2, 2]) });
      const resp = r.step(app(1, 2, 4, { prevIndex, prevTerm, entries: [entry(prevIndex + 1, 4)], commit: 5 }));
      assert.deepEqual(resp, appResp(2, 1, 4, { success: false, index: prevIndex, hintTerm, hintIndex }));
      assert.deepEqual(logTerms(r), [1, 1, 2, 2, 2]);
      assert.equal(r.log.committed, 0);
      assert.equal(r.leader, 1, 'a rejected append still comes from the legitimate leader');
    });
  }

  test('truncates a conflicting suffix and appends the leader entries', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 3, entries: ents([1, 1, 2, 2]) });
    const resp = r.step(app(1, 2, 3, { prevIndex: 2, prevTerm: 1, entries: ents([3, 3, 3], 3) }));
    assert.deepEqual(resp, appResp(2, 1, 3, { success: true, index: 5 }));
    assert.deepEqual(logTerms(r), [1, 1, 3, 3, 3]);
    const rd = drain(r);
    assert.deepEqual(
      rd.entries.map((e) => [e.index, e.term]),
      [
        [3, 3],
        [4, 3],
        [5, 3],
      ],
    );
    assert.equal(rd.mustSync, true);
  });

  test('a stale or reordered append never truncates entries that match', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 2, entries: ents([1, 1, 2, 2, 2]) });
    assert.deepEqual(
      r.step(app(1, 2, 2, { prevIndex: 1, prevTerm: 1, entries: ents([1, 2], 2) })),
      appResp(2, 1, 2, { success: true, index: 3 }),
    );
    assert.deepEqual(r.step(app(1, 2, 2, { prevIndex: 3, prevTerm: 2 })), appResp(2, 1, 2, { success: true, index: 3 }));
    assert.deepEqual(logTerms(r), [1, 1, 2, 2, 2]);
    assert.deepEqual(drain(r).entries, []);
  });

  test('an append that extends a matching log adds only the new entries', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 2, entries: ents([1, 2]) });
    r.step(app(1, 2, 2, { prevIndex: 1, prevTerm: 1, entries: ents([2, 2, 2], 2) }));
    assert.deepEqual(logTerms(r), [1, 2, 2, 2]);
    assert.deepEqual(
      drain(r).entries.map((e) => e.index),
      [3, 4],
    );
  });

  test('commit index = min(leader commit, index of the last new entry), never decreasing', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 1, entries: ents([1, 1, 1, 1, 1]) });
    r.step(app(1, 2, 1, { prevIndex: 2, prevTerm: 1, entries: [entry(3, 1)], commit: 5 }));
    assert.equal(r.log.committed, 3, 'entries 4 and 5 are not known to match the leader yet');
    assert.deepEqual(
      drain(r).committedEntries.map((e) => e.index),
      [1, 2, 3],
    );
    r.step(app(1, 2, 1, { prevIndex: 3, prevTerm: 1, entries: ents([1, 1], 4), commit: 4 }));
    assert.equal(r.log.committed, 4);
    r.step(app(1, 2, 1, { prevIndex: 5, prevTerm: 1, commit: 5 }));
    assert.equal(r.log.committed, 5);
    r.step(app(1, 2, 1, { prevIndex: 5, prevTerm: 1, commit: 2 }));
    assert.equal(r.log.committed, 5);
    assert.deepEqual(
      drain(r).committedEntries.map((e) => e.index),
      [4, 5],
    );
  });

  test('an append that ends at or below the commit index is acknowledged with the commit index', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 2, commit: 3, entries: ents([1, 1, 2, 2]) });
    assert.deepEqual(r.step(app(1, 2, 2, { prevIndex: 1, prevTerm: 1, entries: [entry(2, 1)] })), appResp(2, 1, 2, { success: true, index: 3 }));
    assert.deepEqual(r.step(app(1, 2, 2, { prevIndex: 0, prevTerm: 0, entries: ents([1, 1, 2]) })), appResp(2, 1, 2, { success: true, index: 3 }));
    assert.deepEqual(logTerms(r), [1, 1, 2, 2]);
  });

  test('an append starting below the commit index keeps the part beyond it', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 2, commit: 3, entries: ents([1, 1, 2, 2]) });
    const resp = r.step(app(1, 2, 2, { prevIndex: 1, prevTerm: 1, entries: ents([1, 2, 2, 2], 2), commit: 5 }));
    assert.deepEqual(resp, appResp(2, 1, 2, { success: true, index: 5 }));
    assert.deepEqual(logTerms(r), [1, 1, 2, 2, 2]);
    assert.equal(r.log.committed, 5);
    assert.deepEqual(
      drain(r).entries.map((e) => e.index),
      [5],
    );
  });

  test('an append starting below the commit index still truncates a conflict after it', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 3, commit: 2, entries: ents([1, 1, 2, 2]) });
    const resp = r.step(app(1, 2, 3, { prevIndex: 1, prevTerm: 1, entries: [entry(2, 1), entry(3, 3)], commit: 2 }));
    assert.deepEqual(resp, appResp(2, 1, 3, { success: true, index: 3 }));
    assert.deepEqual(logTerms(r), [1, 1, 3]);
  });

  test('a leader contradicting a committed entry is an invariant error', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 5, commit: 3, entries: ents([1, 1, 2]) });
    assert.throws(() => r.step(app(1, 2, 5, { prevIndex: 1, prevTerm: 1, entries: [entry(2, 1), entry(3, 5), entry(4, 5)] })), RaftInvariantError);
  });

  test('a heartbeat advances the commit index but never past the local log', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 1, entries: ents([1, 1]) });
    r.step(heartbeat(1, 2, 1, 1));
    assert.equal(r.log.committed, 1);
    r.step(heartbeat(1, 2, 1, 7));
    assert.equal(r.log.committed, 2);
  });
});

describe('log replication: leader side', () => {
  /**
   * Figure 7: a leader of term 8 and a follower in one of the paper's states.
   * Node 3 holds the leader's log and elects it; node 2 is the follower under test.
   * Returns the number of rejected appends before the follower matched.
   */
  function figure7(followerTerms: number[]): { rejected: number; appsBeforeMatch: number; c: Cluster } {
    const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const c = new Cluster([1, 2, 3], {}, (id) => ({ term: 7, entries: ents(id === 2 ? followerTerms : leaderTerms) }));
    c.drop((m) => m.type === MessageType.Vote && m.to === 2); // the follower takes no part in the election
    c.elect(1);
    assert.equal(c.get(1).term, 8);
    const fromFollower = c.sent.filter((m) => m.from === 2 && m.type === MessageType.AppResp);
    const firstOk = c.sent.findIndex((m) => m.from === 2 && m.type === MessageType.AppResp && m.success);
    assert.ok(firstOk >= 0, 'the follower never matched');
    const appsBeforeMatch = c.sent.slice(0, firstOk).filter((m) => m.to === 2 && m.type === MessageType.App).length;
    const rejected = fromFollower.filter((m) => m.type === MessageType.AppResp && !m.success).length;
    return { rejected, appsBeforeMatch, c };
  }

  const cases: Array<[string, number[], number]> = [
    ['(a) missing one entry', [1, 1, 1, 4, 4, 5, 5, 6, 6], 1],
    ['(b) missing many entries', [1, 1, 1, 4], 1],
    ['(c) one extra entry', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], 0],
    ['(d) extra entries of term 7', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], 0],
    ['(e) missing entries and extra term-4 entries', [1, 1, 1, 4, 4, 4, 4], 2],
    ['(f) extra entries of terms 2 and 3', [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], 2],
  ];
  for (const [name, followerTerms, wantRejected] of cases) {
    test(`Figure 7 ${name}: the follower converges after ${wantRejected} rejected append(s)`, () => {
      const { rejected, appsBeforeMatch, c } = figure7(followerTerms);
      assert.equal(rejected, wantRejected);
      assert.equal(appsBeforeMatch, wantRejected + 1);
      const want = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 8];
      assert.deepEqual(logTerms(c.get(2)), want);
      assert.deepEqual(logTerms(c.get(3)), want);
      assert.equal(c.get(1).log.committed, 11);
      const pr = c.get(1).progressOf(2)!;
      assert.deepEqual([pr.state, pr.match, pr.next], ['replicate', 11, 12]);
      // The follower learns the commit index at the latest with the next heartbeat.
      c.heartbeat(1);
      assert.equal(c.get(2).log.committed, 11);
    });
  }

  test("a follower that catches up after the commit index advanced is told the commit index at the leader's next tick, without waiting for a heartbeat", () => {
    const { c } = figure7([1, 1, 1, 4, 4, 5, 5, 6, 6, 6].slice(0, 9)); // Figure 7 (a)
    assert.equal(c.get(1).log.committed, 11);
    assert.equal(c.get(1).progressOf(2)!.match, 11);
    assert.equal(c.queue.length, 0);
    assert.ok(c.get(2).log.committed < 11, 'not told at once');
    c.tickAndStabilize(1);
    assert.equal(c.get(2).log.committed, 11);
  });

  test('a commit sends no empty append per follower: the next append carries it, or the next tick', () => {
    const c = new Cluster([1, 2, 3], { heartbeatTicks: 5 }); // so that a tick is not a heartbeat
    c.elect(1);
    c.tickAndStabilize(1);
    const emptyApps = (): number => c.sent.filter((m) => m.type === MessageType.App && m.entries.length === 0).length;
    const before = emptyApps();
    for (let i = 0; i < 5; i++) {
      c.propose(1, `v${i}`);
      c.stabilize();
      // Each proposal's append carries the commit of the one before.
      for (const id of [2, 3]) assert.equal(c.get(id).log.committed, c.get(1).log.committed - 1);
    }
    assert.equal(emptyApps(), before, 'no empty append while proposals flow');
    c.tick(1);
    const notices = c.flush(1)!.messages;
    assert.deepEqual(notices.map((m) => [m.type, m.to, m.type === MessageType.App ? [m.entries.length, m.commit] : null]), [
      [MessageType.App, 2, [0, 6]],
      [MessageType.App, 3, [0, 6]],
    ]);
    c.stabilize();
    c.tickAndStabilize(1);
    assert.equal(emptyApps(), before + 2, 'told once');
    for (const id of [2, 3]) assert.equal(c.get(id).log.committed, 6);
  });

  test('a follower that forwarded a proposal is told its commit at once', () => {
    const c = new Cluster([1, 2, 3], { heartbeatTicks: 5 });
    c.elect(1);
    c.tickAndStabilize(1);
    assert.equal(c.get(2).forward(bytes('via 2')), 1);
    c.stabilize();
    assert.equal(c.get(1).log.committed, 2);
    assert.equal(c.get(2).log.committed, 2, 'the proposer learns the commit without a tick');
    assert.equal(c.get(3).log.committed, 1, 'the other follower waits for the next tick');
  });

  test('the leader backs up a whole conflicting term per round trip, not one entry', () => {
    const follower = [1, ...Array<number>(50).fill(2)]; // index 1 of term 1, then 50 entries of term 2
    const c = new Cluster([1, 2, 3], {}, (id) => ({ term: 3, entries: ents(id === 2 ? follower : [1, 3, 3]) }));
    c.drop((m) => m.type === MessageType.Vote && m.to === 2);
    c.elect(1);
    const rejects = c.sent.filter((m) => m.from === 2 && m.type === MessageType.AppResp && !m.success);
    assert.deepEqual(rejects, [appResp(2, 1, 4, { success: false, index: 3, hintTerm: 2, hintIndex: 2 })]);
    assert.deepEqual(logTerms(c.get(2)), [1, 3, 3, 4]);
  });

  test('many proposals in one turn go out as one append per follower', () => {
    const c = new Cluster([1, 2, 3]);
    const leader = c.elect(1);
    for (let i = 0; i < 10; i++) c.propose(1, `v${i}`);
    const rd = c.flush(1)!;
    assert.equal(rd.entries.length, 10);
    const apps = ofType(rd.messages, MessageType.App);
    assert.deepEqual(
      apps.map((m) => [m.to, m.prevIndex, m.prevTerm, m.commit, m.entries.length, m.entries[0]!.index]),
      [
        [2, 1, 1, 1, 10, 2],
        [3, 1, 1, 1, 10, 2],
      ],
    );
    assert.equal(rd.messages.length, 2);
    c.stabilize();
    c.tickAndStabilize(1);
    for (const id of [1, 2, 3]) assert.equal(c.get(id).log.committed, 11);
    assert.equal(leader.progressOf(2)!.match, 11);
  });

  const limits: Array<[string, { maxEntriesPerAppend?: number; maxBytesPerAppend?: number }, number[]]> = [
    ['maxEntriesPerAppend 4', { maxEntriesPerAppend: 4 }, [4, 4, 2]],
    // each entry: 4 data bytes + 16 = 20 bytes
    ['maxBytesPerAppend 50', { maxBytesPerAppend: 50 }, [2, 2, 2, 2, 2]],
    ['maxBytesPerAppend 1 (always at least one entry)', { maxBytesPerAppend: 1 }, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]],
  ];
  for (const [name, opts, sizes] of limits) {
    test(`batches respect ${name}`, () => {
      const c = new Cluster([1, 2, 3], opts);
      c.elect(1);
      for (let i = 0; i < 10; i++) c.propose(1, `v00${i}`);
      const rd = c.flush(1)!;
      const to2 = ofType(rd.messages, MessageType.App).filter((m) => m.to === 2);
      assert.deepEqual(
        to2.map((m) => m.entries.length),
        sizes,
      );
      // Each append continues where the previous one ended.
      let prev = 1;
      for (const m of to2) {
        assert.equal(m.prevIndex, prev);
        prev += m.entries.length;
      }
      c.stabilize();
      c.tickAndStabilize(1);
      assert.equal(c.get(2).log.committed, 11);
    });
  }

  test('in replicate state the leader pipelines up to maxInflight appends, then pauses until acknowledged', () => {
    const c = new Cluster([1, 2, 3], { maxInflight: 2, maxEntriesPerAppend: 1 });
    const leader = c.elect(1);
    assert.equal(leader.progressOf(2)!.state, 'replicate');
    for (const v of ['a', 'b', 'c', 'd', 'e']) c.propose(1, v);
    const rd = c.flush(1)!;
    const to2 = ofType(rd.messages, MessageType.App).filter((m) => m.to === 2);
    assert.deepEqual(
      to2.map((m) => [m.prevIndex, m.entries.map((e) => e.index)]),
      [
        [1, [2]],
        [2, [3]],
      ],
    );
    const pr = leader.progressOf(2)!;
    assert.deepEqual([pr.isPaused(), pr.inflights.count, pr.next], [true, 2, 4]);
    assert.equal(leader.hasReady(), false, 'nothing more can go out');

    // Only the first append reaches the follower and is acknowledged.
    c.deliverWhere((m) => m === to2[0]);
    c.flush(2);
    c.deliverWhere((m) => m.from === 2 && m.to === 1);
    assert.equal(pr.match, 2);
    const more = ofType(c.flush(1)!.messages, MessageType.App).filter((m) => m.to === 2);
    assert.deepEqual(
      more.map((m) => [m.prevIndex, m.entries.map((e) => e.index)]),
      [[3, [4]]],
    );
    assert.deepEqual([pr.isPaused(), pr.inflights.count, pr.next], [true, 2, 5]);

    c.stabilize();
    c.tickAndStabilize(1);
    for (const id of [1, 2, 3]) assert.equal(c.get(id).log.committed, 6);
  });

  test('a rejected append sends the follower back to probe state at the hinted index', () => {
    const r = newRaft(1, [1, 2, 3], { noopOnElection: false }, { term: 2, entries: ents([1, 1, 2, 2, 2]) });
    makeLeader(r);
    r.step(appResp(2, 1, 3, { success: true, index: 5 })); // replicate
    r.propose(bytes('x'));
    drain(r);
    assert.equal(r.progressOf(2)!.next, 7);
    // The follower lost its log beyond index 2 (it says it is too short).
    // index 5 <= match with a hint beyond match: a stale rejection, ignored.
    r.step(appResp(2, 1, 3, { success: false, index: 5, hintTerm: 0, hintIndex: 6 }));
    assert.equal(r.progressOf(2)!.state, 'replicate');
    r.step(appResp(2, 1, 3, { success: false, index: 6, hintTerm: 0, hintIndex: 6 }));
    const pr = r.progressOf(2)!;
    assert.deepEqual([pr.state, pr.next], ['probe', 6]);
    const msgs = drainMsgs(r);
    assert.deepEqual(
      msgs.map((m) => (m.type === MessageType.App ? [m.to, m.prevIndex, m.prevTerm, m.entries.map((e) => e.index)] : m.type)),
      [[2, 5, 2, [6]]],
    );
  });

  test('a lost append is recovered through the heartbeat exchange', () => {
    const c = new Cluster([1, 2, 3]);
    const leader = c.elect(1);
    c.drop((m) => m.type === MessageType.App && m.to === 3);
    c.propose(1, 'x');
    c.stabilize();
    assert.equal(leader.log.committed, 2);
    assert.equal(c.get(3).log.lastIndex(), 1);
    c.heal();
    c.heartbeat(1);
    assert.deepEqual(logTerms(c.get(3)), [1, 1]);
    assert.equal(c.get(3).log.committed, 2);
    assert.equal(leader.progressOf(3)!.match, 2);
  });
});

// ---------------------------------------------------------------------------------
// Commitment
// ---------------------------------------------------------------------------------

describe('commitment', () => {
  /**
   * Figure 8 (b)/(c): S1 [1,2] S2 [1,2] S3 [1,2] S4 [1] S5 [1,3], index 1 committed.
   * S1 is elected in term 4 by S2 and S3 (S4 and S5 cut off), so index 2 (term 2) is on a majority.
   */
  function figure8(): Cluster {
    const logs: Record<number, number[]> = { 1: [1, 2], 2: [1, 2], 3: [1, 2], 4: [1], 5: [1, 3] };
    const c = new Cluster([1, 2, 3, 4, 5], { noopOnElection: false }, (id) => ({ term: 3, commit: 1, entries: ents(logs[id]!) }));
    c.isolate(4);
    c.isolate(5);
    c.elect(1);
    assert.equal(c.get(1).term, 4);
    return c;
  }

  test('Figure 8: an entry of an earlier term on a majority is not committed by counting replicas', () => {
    const c = figure8();
    const s1 = c.get(1);
    for (const id of [2, 3]) assert.equal(s1.progressOf(id)!.match, 2);
    assert.equal(s1.log.committed, 1);
    assert.deepEqual(c.appliedIndices(1), [1]);
    for (const id of [2, 3]) assert.equal(c.get(id).log.committed, 1);

    // Why: S1 crashes, and S5 (last term 3) can still be elected and overwrite index 2.
    c.heal();
    c.isolate(1);
    c.campaign(5); // term 4: S2 and S3 already voted for S1
    c.stabilize();
    assert.equal(c.get(5).role, Role.Candidate);
    c.campaign(5); // term 5
    c.stabilize();
    assert.equal(c.get(5).role, Role.Leader);
    assert.equal(c.get(5).term, 5);
    for (const id of [2, 3, 4]) assert.deepEqual(logTerms(c.get(id)), [1, 3]);
  });

  test('Figure 8: once an entry of the current term is on a majority, it and everything before commit', () => {
    const c = figure8();
    const s1 = c.get(1);
    const idx = c.propose(1, 'x');
    assert.equal(idx, 3);
    c.stabilize();
    c.tickAndStabilize(1);
    assert.equal(s1.log.committed, 3);
    assert.deepEqual(
      c.applied.get(1)!.map((e) => [e.index, e.term]),
      [
        [1, 1],
        [2, 2],
        [3, 4],
      ],
    );
    for (const id of [2, 3]) assert.equal(c.get(id).log.committed, 3);

    // Now S5 cannot be elected: S2 and S3 have a more up-to-date log.
    c.heal();
    c.isolate(1);
    for (let i = 0; i < 3; i++) {
      c.campaign(5);
      c.stabilize();
      assert.notEqual(c.get(5).role, Role.Leader);
    }
    for (const id of [2, 3]) assert.deepEqual(logTerms(c.get(id)), [1, 2, 4]);
  });

  test("the leader's own entries count toward the quorum only after advance()", () => {
    const c = new Cluster([1, 2, 3]);
    const leader = c.elect(1);
    assert.equal(leader.log.committed, 1);
    leader.propose(bytes('x'));
    const rd = leader.ready(); // not advanced: index 2 is not durable on the leader yet
    assert.deepEqual(
      rd.entries.map((e) => e.index),
      [2],
    );
    const to2 = ofType(rd.messages, MessageType.App).find((m) => m.to === 2)!;
    c.get(2).step(to2);
    c.flush(2);
    c.deliverWhere((m) => m.from === 2 && m.to === 1);
    assert.equal(leader.progressOf(2)!.match, 2);
    assert.equal(leader.log.committed, 1, 'one follower alone is not a majority of three');
    leader.advance(rd);
    assert.equal(leader.log.committed, 2);
    assert.deepEqual(
      c.flush(1)!.committedEntries.map((e) => text(e.data)),
      ['x'],
    );
  });

  test('the leader alone does not commit after advance(); one acknowledgement then does', () => {
    const c = new Cluster([1, 2, 3]);
    const leader = c.elect(1);
    leader.propose(bytes('x'));
    c.flush(1);
    assert.equal(leader.log.committed, 1);
    c.deliverWhere((m) => m.to === 2);
    c.flush(2);
    c.deliverWhere((m) => m.from === 2);
    assert.equal(leader.log.committed, 2);
  });

  test('committed entries reach every state machine, in order, with the commit index', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(3);
    for (const v of ['a', 'b', 'c']) c.propose(3, v);
    c.stabilize();
    c.tickAndStabilize(3);
    for (const id of [1, 2, 3]) {
      assert.equal(c.get(id).log.committed, 4);
      assert.deepEqual(
        c.applied.get(id)!.map((e) => (e.type === EntryType.Noop ? 'noop' : text(e.data))),
        ['noop', 'a', 'b', 'c'],
      );
    }
  });
});

// ---------------------------------------------------------------------------------
// Persistence contract
// ---------------------------------------------------------------------------------

describe('persistence contract', () => {
  test('a Ready carrying a vote grant also carries the vote in hardState, with mustSync', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 1 });
    r.step(vote(3, 2, 2, 0, 0));
    const rd = drain(r);
    assert.deepEqual(rd.messages, [voteResp(2, 3, 2, true)]);
    assert.deepEqual(rd.hardState, { term: 2, vote: 3, commit: 0 });
    assert.equal(rd.mustSync, true);
  });

  test('a Ready carrying an append acknowledgement also carries the entries, with mustSync', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 1 });
    r.step(app(1, 2, 1, { prevIndex: 0, prevTerm: 0, entries: ents([1, 1]) }));
    const rd = drain(r);
    assert.deepEqual(rd.messages, [appResp(2, 1, 1, { success: true, index: 2 })]);
    assert.deepEqual(
      rd.entries.map((e) => e.index),
      [1, 2],
    );
    assert.equal(rd.mustSync, true);
  });

  test('a Ready whose only durable change is the commit index does not require sync', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 1, entries: ents([1, 1]) });
    r.step(heartbeat(1, 2, 1, 0));
    drain(r);
    r.step(heartbeat(1, 2, 1, 2));
    const rd = drain(r);
    assert.deepEqual(rd.hardState, { term: 1, vote: null, commit: 2 });
    assert.equal(rd.mustSync, false);
    assert.deepEqual(rd.messages, [heartbeatResp(2, 1, 1)]);
    assert.deepEqual(
      rd.committedEntries.map((e) => e.index),
      [1, 2],
    );
  });

  test('an answer produced while a Ready is in flight waits for the next Ready, with its entries', () => {
    const r = newRaft(2, [1, 2, 3], {}, { term: 1 });
    r.step(app(1, 2, 1, { prevIndex: 0, prevTerm: 0, entries: ents([1]) }));
    const rd1 = r.ready();
    r.step(app(1, 2, 1, { prevIndex: 1, prevTerm: 1, entries: ents([1], 2) }));
    assert.equal(r.hasReady(), false);
    assert.deepEqual(rd1.messages, [appResp(2, 1, 1, { success: true, index: 1 })]);
    r.advance(rd1);
    const rd2 = drain(r);
    assert.deepEqual(
      rd2.entries.map((e) => e.index),
      [2],
    );
    assert.deepEqual(rd2.messages, [appResp(2, 1, 1, { success: true, index: 2 })]);
    assert.equal(rd2.mustSync, true);
  });

  test('ready({ maxCommitted }) limits the committed entries handed out per Ready', () => {
    const r = newRaft(1, [1], { random: constRandom(0) });
    tickUntilCampaign(r);
    for (const v of ['a', 'b']) r.propose(bytes(v));
    r.advance(r.ready({ maxCommitted: 0 })); // persist: commit 3
    assert.equal(r.log.committed, 3);
    const commitOnly = r.ready({ maxCommitted: 0 });
    assert.deepEqual([commitOnly.hardState?.commit, commitOnly.committedEntries.length], [3, 0]);
    r.advance(commitOnly);
    assert.equal(r.hasReady({ maxCommitted: 0 }), false);
    assert.equal(r.hasReady(), true);
    const handed: number[][] = [];
    while (r.hasReady({ maxCommitted: 2 })) {
      const rd = r.ready({ maxCommitted: 2 });
      handed.push(rd.committedEntries.map((e) => e.index));
      r.advance(rd);
    }
    assert.deepEqual(handed, [[1, 2], [3]]);
    assert.equal(r.log.applied, 3);
  });

  test('ready() twice without advance(), or advance() without ready(), is an invariant error', () => {
    const r = newRaft(1, [1, 2, 3]);
    const rd = r.ready();
    r.advance(rd);
    assert.throws(() => r.advance(rd), RaftInvariantError);
    const r2 = newRaft(1, [1, 2, 3]);
    r2.ready();
    assert.throws(() => r2.ready(), RaftInvariantError);
  });

  test('configuration errors are user errors (ConfigError) that name the option', () => {
    const names = (option: string) => (e: unknown) => e instanceof ConfigError && e.option === option && e.message.includes(option === 'voters' ? 'voters' : option);
    assert.throws(() => newRaft(4, [1, 2, 3]), names('voters'));
    assert.throws(() => newRaft(1, [1, 2, 3], { electionTicks: 3, heartbeatTicks: 3 }), names('heartbeatTicks'));
    assert.throws(() => newRaft(1, [1, 2, 3], { heartbeatTicks: 0 }), names('heartbeatTicks'));
    assert.throws(() => newRaft(1, [1, 2, 3], { maxInflight: 1.5 }), names('maxInflight'));
    assert.throws(() => newRaft(1, [1, 2, 3], { preVote: 'yes' as unknown as boolean }), names('preVote'));
  });
});
