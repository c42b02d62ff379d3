/** Each check of the simulator's SafetyMonitor fires on the violation it names, and not on legal histories. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeConfEntry } from '../../src/core/membership.js';
import { EntryType, MessageType, type ConfState, type Entry } from '../../src/core/types.js';
import { SafetyMonitor, SimCheckFailure, badTransition, type CheckName, type NodeView } from '../../src/sim/safety.js';
import type { StorageState } from '../../src/storage/types.js';

const e = (index: number, term: number, data = `${index}.${term}`): Entry => ({ index, term, type: EntryType.Normal, data: new TextEncoder().encode(data) });

/** A node as the monitor sees it: a log (after a snapshot index), a commit index, a term, a role. */
class View implements NodeView {
  incarnation = 1;
  snap = 0;
  leader = false;
  confNow: ConfState | undefined = undefined;
  constructor(
    readonly id: number,
    public log: Entry[],
    public commit = 0,
    public termNow = 1,
  ) {}
  term(): number {
    return this.termNow;
  }
  isLeader(): boolean {
    return this.leader;
  }
  commitIndex(): number {
    return this.commit;
  }
  snapIndex(): number {
    return this.snap;
  }
  lastIndex(): number {
    return this.log.at(-1)?.index ?? this.snap;
  }
  termAt(i: number): number | undefined {
    return this.log.find((x) => x.index === i)?.term ?? (i === 0 ? 0 : undefined);
  }
  entryAt(i: number): Entry | undefined {
    return this.log.find((x) => x.index === i);
  }
  conf(): ConfState | undefined {
    return this.confNow;
  }
}

const conf = (voters: number[], outgoing: number[] = [], learners: number[] = []): ConfState => ({ voters, outgoing, learners, context: {} });
/** A configuration entry holding `c`. */
const ce = (index: number, term: number, c: ConfState): Entry => ({ index, term, type: EntryType.ConfChange, data: encodeConfEntry({ change: { steps: [] }, conf: c }) });
const ack = (term: number, from: number, to: number, index: number) => ({ type: MessageType.AppResp, term, from, to, success: true, index, hintTerm: 0, hintIndex: 0 }) as const;

function fails(check: CheckName, fn: () => void): void {
  assert.throws(fn, (err: unknown) => err instanceof SimCheckFailure && err.check === check);
}

test('election-safety: a second leader in a term fails; the same leader again does not', () => {
  const m = new SafetyMonitor();
  m.onRole(new View(1, []), 'leader', 3);
  m.onRole(new View(1, []), 'leader', 3);
  m.onRole(new View(2, []), 'leader', 4);
  fails('election-safety', () => m.onRole(new View(3, []), 'leader', 4));
});

test('leader-completeness: a leader lacking an entry committed in an earlier term fails', () => {
  const m = new SafetyMonitor();
  const a = new View(1, [e(1, 1), e(2, 2)], 0, 2);
  a.commit = 2;
  m.afterStep([a], 0);
  m.onRole(new View(2, [e(1, 1), e(2, 2), e(3, 3)]), 'leader', 3); // has it
  // Committed in term 2 is no promise to a leader of term 2 elected by stale votes; term 4 must have it.
  m.onRole(new View(3, [e(1, 1)]), 'leader', 2);
  fails('leader-completeness', () => m.onRole(new View(4, [e(1, 1), e(2, 3)]), 'leader', 4));
});

test('committed-unchanged and commit-monotonic', () => {
  const m = new SafetyMonitor();
  const a = new View(1, [e(1, 1), e(2, 1)], 2);
  m.afterStep([a], 0);
  a.commit = 1;
  fails('commit-monotonic', () => m.afterStep([a], 1));
  const m2 = new SafetyMonitor();
  const b = new View(1, [e(1, 1), e(2, 1)], 2);
  const c = new View(2, [e(1, 1), e(2, 2)], 1);
  m2.afterStep([b, c], 0);
  c.commit = 2;
  fails('committed-unchanged', () => m2.afterStep([c], 1));
});

test('commit-rule: a leader committing an entry of an earlier term fails', () => {
  const m = new SafetyMonitor();
  const l = new View(1, [e(1, 1), e(2, 1), e(3, 2)], 1, 2);
  l.leader = true;
  m.afterStep([l], 0);
  l.commit = 3; // its own term: fine
  m.afterStep([l], 1);
  const m2 = new SafetyMonitor();
  const l2 = new View(1, [e(1, 1), e(2, 1), e(3, 2)], 1, 2);
  l2.leader = true;
  m2.afterStep([l2], 0);
  l2.commit = 2;
  fails('commit-rule', () => m2.afterStep([l2], 1));
});

test('log-matching: same term at an index but different entries before it fails', () => {
  const m = new SafetyMonitor(0);
  m.afterStep([new View(1, [e(1, 1), e(2, 2), e(3, 2)]), new View(2, [e(1, 1), e(2, 2), e(3, 3)])], 0); // diverge after 2: fine
  fails('log-matching', () => m.afterStep([new View(1, [e(1, 1), e(2, 2)]), new View(2, [e(1, 1, 'other'), e(2, 2)])], 100));
});

test('state-machine-safety, apply-order and replica-state', () => {
  const m = new SafetyMonitor();
  const a = new View(1, []);
  const b = new View(2, []);
  m.onApply(a, 1, 1, new Uint8Array([1]), 'd1');
  m.onApply(b, 1, 1, new Uint8Array([1]), 'd1');
  fails('state-machine-safety', () => m.onApply(new View(3, []), 1, 1, new Uint8Array([2]), 'd1'));
  fails('apply-order', () => m.onApply(a, 1, 1, new Uint8Array([1]), 'd1'));
  m.onApply(a, 2, 1, new Uint8Array([5]), 'd2');
  fails('replica-state', () => m.onApply(b, 2, 1, new Uint8Array([5]), 'other'));
  const restarted = new View(1, []);
  restarted.incarnation = 2;
  m.onRestore(restarted, 2, 1, 'd2'); // a new run starts over from its snapshot
});

test('promises: a restart must keep granted votes and acknowledged entries', () => {
  const state = (term: number, vote: number | null, last: number): StorageState => ({
    hardState: { term, vote, commit: 0 },
    snapshot: null,
    entries: Array.from({ length: last }, (_, i) => e(i + 1, 1)),
  });
  const m = new SafetyMonitor();
  m.onSend({ type: MessageType.VoteResp, term: 3, from: 1, to: 2, granted: true });
  m.onSend({ type: MessageType.AppResp, term: 3, from: 1, to: 2, success: true, index: 5, hintTerm: 0, hintIndex: 0 });
  m.onRecover(1, state(3, 2, 5));
  m.onRecover(1, state(4, null, 0)); // a later term may have replaced the log
  const m2 = new SafetyMonitor();
  m2.onSend({ type: MessageType.VoteResp, term: 3, from: 1, to: 2, granted: true });
  fails('promises', () => m2.onRecover(1, state(3, null, 0)));
  fails('promises', () => m2.onRecover(1, state(2, null, 0)));
  const m3 = new SafetyMonitor();
  m3.onSend({ type: MessageType.AppResp, term: 3, from: 1, to: 2, success: true, index: 5, hintTerm: 0, hintIndex: 0 });
  fails('promises', () => m3.onRecover(1, state(3, null, 4)));
});

test('election-quorum: a leader needs the votes of a joint quorum; a learner\'s vote does not count', () => {
  const m = new SafetyMonitor();
  const l = new View(1, []);
  l.confNow = conf([1, 2, 3], [], [4]);
  m.onSend({ type: MessageType.VoteResp, term: 2, from: 2, to: 1, granted: true });
  m.onRole(l, 'leader', 2);
  const l2 = new View(1, []);
  l2.confNow = conf([1, 2, 3], [], [4]);
  m.onSend({ type: MessageType.VoteResp, term: 3, from: 4, to: 1, granted: true });
  fails('election-quorum', () => m.onRole(l2, 'leader', 3));
  const l3 = new View(1, []);
  l3.confNow = conf([1, 5, 6], [1, 2, 3]); // joint: a majority of both halves
  m.onSend({ type: MessageType.VoteResp, term: 4, from: 2, to: 1, granted: true });
  fails('election-quorum', () => m.onRole(l3, 'leader', 4));
});

test('commit-quorum: a leader commits only what a joint quorum of its configuration acknowledged', () => {
  const m = new SafetyMonitor();
  const l = new View(1, [e(1, 2), e(2, 2)], 0, 2);
  l.leader = true;
  l.confNow = conf([1, 2, 3], [], [4]);
  m.afterStep([l], 0);
  m.onSend(ack(2, 2, 1, 1));
  l.commit = 1;
  m.afterStep([l], 1);
  m.onSend(ack(2, 4, 1, 2)); // a learner's acknowledgement
  m.onSend(ack(1, 3, 1, 2)); // an acknowledgement of an earlier term
  l.commit = 2;
  fails('commit-quorum', () => m.afterStep([l], 2));
});

test('joint-phase, joint-left-after-commit and one-change-at-a-time follow a leader\'s configuration entries', () => {
  assert.equal(badTransition(conf([1, 2, 3]), conf([1, 2, 3, 4], [1, 2, 3])), null);
  assert.equal(badTransition(conf([1, 2, 3, 4], [1, 2, 3]), conf([1, 2, 3, 4])), null);
  assert.equal(badTransition(conf([1, 2, 3]), conf([1, 2, 3], [], [4])), null);
  assert.notEqual(badTransition(conf([1, 2, 3]), conf([1, 2, 3, 4])), null);
  assert.notEqual(badTransition(conf([1, 2, 3, 4], [1, 2, 3]), conf([1, 2])), null);
  const leader = (): { m: SafetyMonitor; l: View } => {
    const m = new SafetyMonitor();
    const l = new View(1, [e(1, 1)], 1, 1);
    l.leader = true;
    l.confNow = conf([1, 2, 3]);
    m.afterStep([l], 0);
    return { m, l };
  };
  const ok = leader();
  ok.l.log.push(ce(2, 1, conf([1, 2, 3, 4], [1, 2, 3])));
  ok.m.afterStep([ok.l], 1);
  ok.m.onSend(ack(1, 2, 1, 2));
  ok.l.commit = 2;
  ok.l.log.push(ce(3, 1, conf([1, 2, 3, 4])));
  ok.m.afterStep([ok.l], 2);
  const skip = leader();
  skip.l.log.push(ce(2, 1, conf([1, 2, 3, 4])));
  fails('joint-phase', () => skip.m.afterStep([skip.l], 1));
  const early = leader();
  early.l.log.push(ce(2, 1, conf([1, 2, 3, 4], [1, 2, 3])), ce(3, 1, conf([1, 2, 3, 4])));
  fails('joint-left-after-commit', () => early.m.afterStep([early.l], 1));
  const two = leader();
  two.l.log.push(ce(2, 1, conf([1, 2, 3], [], [4])), ce(3, 1, conf([1, 2, 3], [], [4, 5])));
  fails('one-change-at-a-time', () => two.m.afterStep([two.l], 1));
});

test('snapshot-config: a snapshot carries the configuration in force at its index', () => {
  const m = new SafetyMonitor(50, [1, 2, 3]);
  const a = new View(1, [e(1, 1), ce(2, 1, conf([1, 2, 3], [], [4])), e(3, 1)], 3);
  m.afterStep([a], 0);
  m.onSnapshotStored(1, { index: 1, term: 1, conf: conf([1, 2, 3]) });
  m.onSnapshotStored(1, { index: 3, term: 1, conf: conf([1, 2, 3], [], [4]) });
  fails('snapshot-config', () => m.onSnapshotStored(1, { index: 3, term: 1 }));
  fails('snapshot-config', () => m.onSnapshotStored(1, { index: 3, term: 1, conf: conf([1, 2, 3]) }));
});

test('transfer-up-to-date: a transfer target campaigns only as long as the TimeoutNow said', () => {
  const m = new SafetyMonitor();
  m.onReceive({ type: MessageType.TimeoutNow, term: 2, from: 1, to: 2, lastIndex: 7 });
  m.onSend({ type: MessageType.Vote, term: 3, from: 2, to: 3, lastIndex: 7, lastTerm: 2, transfer: true });
  m.onReceive({ type: MessageType.TimeoutNow, term: 3, from: 2, to: 3, lastIndex: 9 });
  fails('transfer-up-to-date', () => m.onSend({ type: MessageType.Vote, term: 4, from: 3, to: 2, lastIndex: 8, lastTerm: 3, transfer: true }));
});
