/**
 * The reference Raft of examples/lab-raft (the lab's classic structure, on the
 * lab runtime from tsraft/lab) passes the lab's Raft tests through the
 * pluggable tester, and the tester catches its planted bugs with the tests and
 * seeds docs/LEARN.md records.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as lab from 'tsraft/lab';
import { labMain } from '../../src/lab/cli.js';
import { runLabTest, type LabTest } from '../../src/lab/runner.js';
import * as runtime from '../../src/lab/runtime.js';
import { raftExtensionTests, raftTests } from '../../src/lab/suite/raft.js';
import { BUGS, makeWithBugs, type BugName } from '../../examples/lab-raft/raft.js';

const examplePath = fileURLToPath(new URL('../../examples/lab-raft/raft.js', import.meta.url));
const suite = [...raftTests, ...raftExtensionTests];

async function runLab(...argv: string[]): Promise<{ code: number; text: string }> {
  const out: string[] = [];
  const code = await labMain(suite, new URL(import.meta.url), argv, (l) => out.push(l));
  return { code, text: out.join('\n') };
}

test('the example and the tester share one instance of the lab runtime (tsraft/lab resolves to dist/src/lab)', () => {
  assert.equal(lab.sleep, runtime.sleep);
  assert.equal(lab.now, runtime.now);
  assert.equal(import.meta.resolve('tsraft/lab'), new URL('../../src/lab/index.js', import.meta.url).href);
});

test('the reference Raft passes the 28 Raft tests and the extensions with seeds 1 and 2 (npm run lab -- --impl)', async () => {
  const r = await runLab('--impl', examplePath, '--seed', '1', '--runs', '2', '--jobs', '1');
  const n = raftTests.length + raftExtensionTests.length;
  assert.equal(raftTests.length, 28);
  assert.equal(r.code, 0, r.text);
  assert.match(r.text, new RegExp(`seed 1: ${n} passed, 0 failed`));
  assert.match(r.text, new RegExp(`seed 2: ${n} passed, 0 failed`));
  assert.match(r.text, new RegExp(`${2 * n} passed, 0 failed`));
});

/** Planted bugs the tester catches fast, with the first catching test and seed (docs/LEARN.md's table). */
const CAUGHT: readonly { bug: BugName; title: string; seed: number; message: RegExp }[] = [
  { bug: 'fast-heartbeats', title: "Test (2B): RPC counts aren't too high", seed: 1, message: /too many RPCs \(\d+\) for 1 second of idleness/ },
  { bug: 'backup-past-hint', title: 'Test (2B): agreement after follower reconnects', seed: 1, message: /failed to reach agreement/ },
  { bug: 'votedfor-not-persisted', title: 'Test (2C+): a restarted server does not vote twice in one term [extension]', seed: 1, message: /has two leaders.*voted a second time/ },
  {
    bug: 'figure8-commit-old-term',
    title: 'Test (2C+): Figure 8, forced: an old-term entry is not committed by counting [extension]',
    seed: 1,
    message: /apply error: commit index=\d+ server=\d+ \d+ != server=\d+ \d+/,
  },
];

const byTitle = (title: string): LabTest => {
  const t = suite.find((x) => x.title === title);
  assert.ok(t, `no test titled ${title}`);
  return t;
};

for (const c of CAUGHT) {
  test(`planted bug ${c.bug} is caught by "${c.title}" with seed ${c.seed}, which passes without it`, async () => {
    const t = byTitle(c.title);
    const buggy = await runLabTest(t, { seed: c.seed, log: () => {}, implementation: { name: `lab-raft+${c.bug}`, make: makeWithBugs([c.bug]) } });
    assert.equal(buggy.ok, false, `${c.bug}: ${BUGS[c.bug]}: not caught`);
    assert.match(String((buggy.error as Error).message), c.message);
    const clean = await runLabTest(t, { seed: c.seed, log: () => {}, implementation: { name: 'lab-raft', make: makeWithBugs([]) } });
    assert.equal(clean.ok, true, String(clean.error));
  });
}

test("tsraft's own Raft passes the extension scenarios with seeds 1-3 (they ask nothing of a correct Raft)", async () => {
  for (const t of raftExtensionTests) {
    for (const seed of [1, 2, 3]) {
      const r = await runLabTest(t, { seed, log: () => {} });
      assert.equal(r.ok, true, `${t.title}, seed ${seed}: ${String(r.error)}`);
    }
  }
});

test('TSRAFT_LAB_BUGS switches planted bugs on for --impl, and an unknown name is refused by name', async () => {
  try {
    process.env['TSRAFT_LAB_BUGS'] = 'fast-heartbeats';
    const r = await runLab('--impl', examplePath, '--grep', "RPC counts aren't too high", '--seed', '1');
    assert.equal(r.code, 1, r.text);
    assert.match(r.text, /too many RPCs \(\d+\) for 1 second of idleness/);
    process.env['TSRAFT_LAB_BUGS'] = 'no-such-bug';
    const u = await runLab('--impl', examplePath, '--grep', 'initial election', '--seed', '1');
    assert.equal(u.code, 1, u.text);
    assert.match(u.text, /no planted bug named 'no-such-bug'/);
  } finally {
    delete process.env['TSRAFT_LAB_BUGS'];
  }
});
