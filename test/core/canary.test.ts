// The core's planted bugs (canaries) come from RaftConfig.canary: each one
// misbehaves exactly when its config says so, and a core without one (or with
// another one) behaves correctly. The simulator relies on this to prove its
// checks catch each kind of bug.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CanaryName } from '../../src/util/canary.js';
import { MessageType, Role } from '../../src/core/types.js';
import { app, appResp, constRandom, drain, ents, entry, heartbeatResp, makeLeader, newRaft } from './helpers.js';

/** Runs `check` without a canary, with an unrelated one, and with `name`; `check` reports whether the bug showed. */
function onlyWith(name: CanaryName, check: (canary: CanaryName | undefined) => boolean): void {
  assert.equal(check(undefined), false, `without a canary the core behaves correctly`);
  assert.equal(check('send-before-durable'), false, `an unrelated canary does not plant ${name}`);
  assert.equal(check(name), true, `with canary ${name} the planted bug shows`);
}

describe('core canaries are configuration', () => {
  test('accept-stale-term: an append from a lower term is accepted instead of rejected', () => {
    onlyWith('accept-stale-term', (canary) => {
      const r = newRaft(2, [1, 2, 3], { random: constRandom(0), canary }, { term: 3, entries: ents([1, 2]) });
      const resp = r.step(app(1, 2, 2, { prevIndex: 2, prevTerm: 2, entries: [entry(3, 2)], commit: 2 }));
      assert.equal(r.term, 3, 'the term never goes back');
      if (r.log.lastIndex() === 2) {
        assert.deepEqual(resp, appResp(2, 1, 3, { success: false, index: 2 }));
        return false;
      }
      assert.deepEqual(resp, appResp(2, 1, 3, { success: true, index: 3 }));
      assert.equal(r.leader, 1, 'the stale leader was followed');
      return true;
    });
  });

  test('commit-previous-term: a leader commits an entry of an earlier term by counting replicas (Figure 8)', () => {
    onlyWith('commit-previous-term', (canary) => {
      // Term 3, log [1@1, 2@2], index 1 committed; elected in term 4 without a no-op.
      const r = newRaft(1, [1, 2, 3], { random: constRandom(0), noopOnElection: false, canary }, { term: 3, commit: 1, entries: ents([1, 2]) });
      makeLeader(r);
      assert.equal(r.term, 4);
      r.step(appResp(2, 1, 4, { success: true, index: 2 }));
      assert.equal(r.progressOf(2)!.match, 2, 'index 2 (term 2) is on a majority: leader and node 2');
      return r.log.committed === 2;
    });
  });

  test('no-noop-before-reads: a new leader confirms a read before committing an entry of its term', () => {
    onlyWith('no-noop-before-reads', (canary) => {
      // Term 1, log [1@1] committed; elected in term 2, its no-op not yet acknowledged.
      const r = newRaft(1, [1, 2, 3], { random: constRandom(0), noopOnElection: true, canary }, { term: 1, commit: 1, entries: ents([1]) });
      makeLeader(r);
      assert.equal(r.role, Role.Leader);
      assert.ok(r.readIndex(7));
      const rounds = drain(r).messages.filter((m) => m.type === MessageType.Heartbeat && m.ctx > 0);
      r.step(heartbeatResp(2, 1, 2, 1));
      const rd = drain(r);
      assert.equal(r.log.committed, 1, 'the no-op of term 2 is still uncommitted');
      if (rd.readStates.length === 0) {
        assert.equal(rounds.length, 0, 'no read round before the first commit of the term');
        return false;
      }
      assert.equal(rounds.length, 2, 'a read round went out at once');
      assert.deepEqual(rd.readStates, [{ ctx: 7, index: 1 }], 'served at a commit index of an earlier term');
      return true;
    });
  });
});
