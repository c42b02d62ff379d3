/**
 * npm run lab -- --trace: a test's events in words, one column per server,
 * from the RPCs the tester carries, for tsraft's Raft and for any other.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { labMain } from '../../src/lab/cli.js';
import { runLabTest } from '../../src/lab/runner.js';
import { raftTests } from '../../src/lab/suite/raft.js';
import { LabTracer, describeReply, describeRequest } from '../../src/lab/trace.js';

const initial = raftTests.find((t) => /initial election/.test(t.title))!;
const failure = raftTests.find((t) => /election after network failure/.test(t.title))!;

test('a traced run: one column per server, elections and votes in words, what the tester did', async () => {
  const lines: string[] = [];
  const r = await runLabTest(failure, { seed: 3, log: () => {}, tracer: new LabTracer((l) => lines.push(l)) });
  assert.ok(r.ok, String(r.error));
  const header = lines.find((l) => l.includes('S0'))!;
  assert.match(header, /^\s+time │ S0\s+│ S1\s+│ S2$/);
  const text = lines.join('\n');
  assert.match(text, /→ S\d RequestVote t1 last 0@0/);
  assert.match(text, /grants vote t1 to S\d/);
  assert.match(text, /leader t1/);
  assert.match(text, /tester: disconnected/);
  assert.match(text, /tester: connected/);
  // Every event sits in one column: a time, then cells separated by │, never more than three.
  for (const l of lines.slice(lines.indexOf(header) + 1)) {
    assert.match(l, /^\s+\d+\.\d{3} │ /, l);
    assert.ok(l.split('│').length - 1 <= 3, l);
    assert.equal(l.split('│').filter((c) => c.trim() !== '').length, 2, `one event per line: ${l}`);
  }
  // Tracing reads; it does not change the run.
  const plain = await runLabTest(failure, { seed: 3, log: () => {} });
  assert.equal(plain.virtualMs, r.virtualMs);
  assert.deepEqual(plain.stats, r.stats);
});

test('a learner\'s RPCs in words: votes, heartbeats, entries, the conflict hint', () => {
  assert.equal(describeRequest('Raft.RequestVote', { term: 4, candidateId: 1, lastLogIndex: 7, lastLogTerm: 3 }), 'RequestVote t4 last 7@3');
  assert.equal(describeRequest('Raft.AppendEntries', { term: 4, leaderId: 0, prevLogIndex: 7, prevLogTerm: 3, entries: [{}, {}, {}, {}, {}], leaderCommit: 7 }), 'AppendEntries t4 prev 7@3 [8..12] commit 7');
  assert.equal(describeRequest('Raft.AppendEntries', { Term: 4, LeaderId: 0, PrevLogIndex: 7, PrevLogTerm: 3, Entries: [], LeaderCommit: 7 }), 'heartbeat t4 prev 7@3 commit 7');
  assert.equal(describeReply('Raft.RequestVote', { term: 4 }, { term: 4, voteGranted: true }, 'S1'), 'grants vote t4 to S1');
  assert.equal(describeReply('Raft.RequestVote', { term: 4 }, { term: 5, voteGranted: false }, 'S1'), 'refuses vote t4 to S1 (its term t5 > t4)');
  const ae = { term: 4, prevLogIndex: 7, prevLogTerm: 3, entries: [{}] };
  assert.equal(describeReply('Raft.AppendEntries', ae, { term: 4, success: false, XTerm: 3, XIndex: 5, XLen: 9 }, 'S0'), 'rejects AppendEntries from S0: conflict term 3 at 5');
  assert.equal(describeReply('Raft.AppendEntries', ae, { term: 4, success: false, XTerm: -1, XIndex: -1, XLen: 4 }, 'S0'), 'rejects AppendEntries from S0: log too short (len 4)');
  assert.equal(describeReply('Raft.AppendEntries', ae, { term: 6, success: false }, 'S0'), 'rejects AppendEntries from S0: stale term t4 < t6');
  assert.equal(describeReply('Raft.AppendEntries', { ...ae, entries: [] }, { term: 4, success: true }, 'S0'), 'accepts heartbeat from S0');
  assert.equal(describeRequest('Raft.Snoop', { a: 1, b: [1, 2] }), 'Snoop(a 1, b [2])');
});

test('npm run lab -- --trace prints the columns; with more than one test or run it refuses', async () => {
  const out: string[] = [];
  const code = await labMain(raftTests, new URL(import.meta.url), ['--seed', '2', '--grep', '^Test \\(2A\\): initial election$', '--trace'], (l) => out.push(l));
  assert.equal(code, 0, out.join('\n'));
  assert.ok(out.some((l) => /│ S0 +│ S1 +│ S2/.test(l)));
  assert.ok(out.some((l) => /grants vote t\d+ to S\d/.test(l)));
  const many: string[] = [];
  assert.equal(await labMain(raftTests, new URL(import.meta.url), ['--grep', '2A', '--trace'], (l) => many.push(l)), 2);
  assert.match(many.join('\n'), /--trace prints one run.*matches 3/);
  assert.equal(await labMain([initial], new URL(import.meta.url), ['--runs', '2', '--trace'], () => {}), 2);
});
