/** Each check of the simulator's SafetyMonitor fires on the violation it names, and not on legal histories. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntryType, MessageType, type Entry } from '../../src/core/types.js';
import { SafetyMonitor, SimCheckFailure, type CheckName, type NodeView } from '../../src/sim/safety.js';
import type { StorageState } from '../../src/storage/types.js';

const e = (index: number, term: number, data = `${index}.${term}`): Entry => ({ index, term, type: EntryType.Normal, data: new TextEncoder().encode(data) });

/** A node as the monitor sees it: a log (after a snapshot index), a commit index, a term, a role. */
class View implements NodeView {
  incarnation = 1;
  snap = 0;
  leader = false;
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
}

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
