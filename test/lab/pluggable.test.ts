/**
 * The pluggable tester: the Raft and kvraft testers run any implementation
 * handed to them (`makeConfig({ servers, make })`, `npm run lab -- --impl PATH`),
 * give it the lab's runtime (sleep/now/random in virtual time), and report
 * what is wrong with it in words.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { labMain } from '../../src/lab/cli.js';
import { ImplementationError, loadImplementation } from '../../src/lab/implementation.js';
import { makeConfig } from '../../src/lab/config.js';
import { runLabTest, type LabTest } from '../../src/lab/runner.js';
import { currentRuntime, sleep } from '../../src/lab/runtime.js';
import { raftTests } from '../../src/lab/suite/raft.js';
import { kvTests } from '../../src/lab/suite/kv.js';
import * as followerOnly from './fixtures/follower-only.js';

const fixture = (name: string): string => new URL(`./fixtures/${name}.js`, import.meta.url).href;
const byTitle = (re: RegExp): LabTest => raftTests.find((t) => re.test(t.title))!;

async function lab(tests: readonly LabTest[], ...argv: string[]): Promise<{ code: number; text: string }> {
  const out: string[] = [];
  const code = await labMain(tests, new URL(import.meta.url), argv, (l) => out.push(l));
  return { code, text: out.join('\n') };
}

test('tsraft\'s own Raft passes 2A and 2B through the pluggable path (npm run lab -- --impl)', async () => {
  const r = await lab(raftTests, '--impl', new URL(fixture('adapter')).pathname, '--grep', '2A|basic agreement|RPC byte count', '--seed', '5');
  assert.equal(r.code, 0, r.text);
  assert.match(r.text, /implementation .*adapter\.js/);
  assert.match(r.text, /5 passed, 0 failed/);
});

test('a learner-shaped Raft runs on the lab\'s virtual clock and is told when no leader appears', async () => {
  followerOnly.calls.ticks = 0;
  const impl = await loadImplementation(fixture('follower-only'), 'follower-only.js');
  const r = await runLabTest(byTitle(/initial election/), { seed: 3, log: () => {}, implementation: impl });
  assert.equal(r.ok, false);
  assert.match(String(r.error), /expected one leader, got none/);
  // Three servers ticking every 50-100 virtual ms for the ~5 s the tester waits: its sleeps were virtual.
  assert.ok(followerOnly.calls.ticks > 3 * 40, `ticks ${followerOnly.calls.ticks}`);
  assert.ok(r.wallMs < 5000, `virtual time, not real: ${r.wallMs} ms`);
  assert.equal(currentRuntime(), null, 'the runtime is left when the test ends');
  // The same seed replays the same run.
  const ticks = followerOnly.calls.ticks;
  followerOnly.calls.ticks = 0;
  await runLabTest(byTitle(/initial election/), { seed: 3, log: () => {}, implementation: impl });
  assert.equal(followerOnly.calls.ticks, ticks);
});

test('setTimeout in a learner\'s Raft under virtual time fails the test, saying what to use instead', async () => {
  const impl = await loadImplementation(fixture('real-timer'), 'real-timer.js');
  const realSetTimeout = globalThis.setTimeout;
  const r = await runLabTest(byTitle(/initial election/), { seed: 1, log: () => {}, implementation: impl });
  assert.equal(r.ok, false);
  assert.match(String(r.error), /setTimeout was called during a virtual-time lab test.*use `await sleep\(ms\)` from 'tsraft\/lab'/);
  assert.equal(globalThis.setTimeout, realSetTimeout, 'the real setTimeout is back after the test');
  // In real time the same code is allowed.
  assert.doesNotThrow(() => clearTimeout(setTimeout(() => {}, 1)));
});

test('an RPC handler that throws fails the test naming the server and the handler', async () => {
  const impl = await loadImplementation(fixture('throwing-handler'), 'throwing-handler.js');
  const r = await runLabTest(byTitle(/initial election/), { seed: 1, log: () => {}, implementation: impl });
  assert.equal(r.ok, false);
  assert.match(String((r.error as Error).message), /server \d's Raft\.RequestVote handler threw: Error: votedFor is undefined/);
});

test('a malformed implementation gets an error that says what is missing', async () => {
  const impl = await loadImplementation(fixture('no-kill'), 'no-kill.js');
  const r = await runLabTest(byTitle(/initial election/), { seed: 1, log: () => {}, implementation: impl });
  assert.equal(r.ok, false);
  assert.ok(r.error instanceof ImplementationError);
  assert.match(r.error.message, /server 0: the object make\(\) returned has no kill method/);
  await assert.rejects(loadImplementation(new URL('./fixtures/nowhere.js', import.meta.url).href, 'nowhere.js'), /cannot load nowhere\.js/);
});

test('npm run lab -- --impl: a module without startKVServer skips the kvraft tests, or refuses them when asked for', async () => {
  const path = new URL(fixture('follower-only')).pathname;
  const tests = [byTitle(/initial election/), kvTests[0]!];
  const all = await lab(tests, '--impl', path, '--seed', '2');
  assert.equal(all.code, 1, all.text); // the Raft test ran (and failed: no leader); the kv test was skipped
  assert.match(all.text, /note: .*follower-only\.js exports no startKVServer: the 1 test\(s\) that need it are skipped/);
  assert.match(all.text, /1 test\(s\) x 1 run/);
  assert.match(all.text, /--impl '.*follower-only\.js'/, 'the replay command names the implementation');
  const asked = await lab(tests, '--impl', path, '--grep', '3A');
  assert.equal(asked.code, 2);
  assert.match(asked.text, /error: --impl: .*exports no startKVServer/);
  const missing = await lab(tests, '--impl', '/nonexistent/raft.js');
  assert.equal(missing.code, 2);
  assert.match(missing.text, /error: --impl: cannot load/);
  const file = await lab(tests, '--impl', path, '--storage', 'file');
  assert.equal(file.code, 2);
});

test('makeConfig({ servers, make }): the Raft tester takes the implementation as a parameter', async () => {
  const { make } = await import('./fixtures/adapter.js');
  const cfg = makeConfig({ servers: 3, make, seed: 11, log: () => {} });
  await cfg.run(async (c) => {
    c.begin('pluggable config');
    const leader = await c.checkOneLeader();
    assert.ok(leader >= 0);
    await c.one(42, 3, false);
    await sleep(10); // the lab runtime is live inside run()
    c.end();
  });
  assert.equal(currentRuntime(), null);
});

test('the tester fails an implementation that skips one apply message, with the lab\'s message', async () => {
  const impl = await loadImplementation(fixture('skips-apply'), 'skips-apply.js');
  const r = await runLabTest(raftTests.find((t) => /concurrent Start/.test(t.title))!, { seed: 1, log: () => {}, implementation: impl });
  assert.equal(r.ok, false);
  assert.match(String((r.error as Error).message), /apply out of order, expected index 2, got 3/);
});

test('the tester fails an implementation that always claims to be leader, with the lab\'s message', async () => {
  const impl = await loadImplementation(fixture('always-leader'), 'always-leader.js');
  const r = await runLabTest(byTitle(/initial election/), { seed: 1, log: () => {}, implementation: impl });
  assert.equal(r.ok, false);
  assert.match(String((r.error as Error).message), /term \d+ has 3 \(>1\) leaders/);
});
