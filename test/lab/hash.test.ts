import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { labMain } from '../../src/lab/cli.js';
import { runLabTest, type LabTest } from '../../src/lab/runner.js';
import { kvTests } from '../../src/lab/suite/kv.js';
import { raftTests } from '../../src/lab/suite/raft.js';
import type { SimEvent } from '../../src/sim/observe.js';

const suite = [...raftTests, ...kvTests];
const dir = mkdtempSync(path.join(tmpdir(), 'tsraft-lab-hash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(...argv: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await labMain(suite, new URL(import.meta.url), argv, (l) => out.push(l));
  return { code, out };
}

const hashOf = (out: string[]): string | undefined => out.find((l) => l.startsWith('trace hash '))?.slice('trace hash '.length);
const byTitle = (title: string): LabTest => suite.find((t) => t.title === title)!;
const REELECTION = '^Test \\(2A\\): election after network failure$';

test('npm run lab -- --seed S --grep NAME (one test, one run) prints the run\'s trace hash; the same seed gives the same hash, another seed another', async () => {
  const a = await run('--seed', '3', '--grep', REELECTION);
  assert.equal(a.code, 0, a.out.join('\n'));
  const h = hashOf(a.out);
  assert.match(h ?? '', /^[0-9a-f]{64}$/, a.out.join('\n'));
  assert.equal(hashOf((await run('--seed', '3', '--grep', REELECTION)).out), h, 'deterministic');
  assert.notEqual(hashOf((await run('--seed', '4', '--grep', REELECTION)).out), h, 'another seed, another run');
  // More than one test, or more than one run: no single run to name.
  assert.equal(hashOf((await run('--seed', '3', '--grep', '2A')).out), undefined);
  assert.equal(hashOf((await run('--seed', '3', '--grep', REELECTION, '--runs', '2', '--jobs', '1')).out), undefined);
});

test('runLabTest hashTrace: a kvraft test hashes the same twice; observing the run (the replay page\'s events) changes nothing in it', async () => {
  const test3a = byTitle('Test: progress in majority (3A), no progress in minority (3A), completion after heal (3A)');
  const quiet = { log: () => {} };
  const a = await runLabTest(test3a, { seed: 2, hashTrace: true, ...quiet });
  const b = await runLabTest(test3a, { seed: 2, hashTrace: true, ...quiet });
  assert.equal(a.ok, true);
  assert.equal(a.traceHash, b.traceHash);
  const events: SimEvent[] = [];
  const c = await runLabTest(test3a, { seed: 2, hashTrace: true, observer: (e) => events.push(e), ...quiet });
  assert.equal(c.traceHash, a.traceHash, 'the observer only reads');
  assert.equal((await runLabTest(test3a, { seed: 2, ...quiet })).traceHash, undefined, 'no hash unless asked');
  // What the page draws: the five servers, clerks' calls as client operations, the partition, the end with the hash.
  const nodes = new Set(events.flatMap((e) => (e.kind === 'node' ? [e.node.id] : [])));
  assert.deepEqual([...nodes].sort(), [0, 1, 2, 3, 4]);
  assert.ok(events.some((e) => e.kind === 'client' && e.phase === 'return' && e.client.startsWith('C')));
  assert.ok(events.some((e) => e.kind === 'send' && e.from < 0), 'clerks call servers');
  assert.ok(events.some((e) => e.kind === 'cuts' && e.cuts.length > 0));
  const end = events.at(-1);
  assert.ok(end?.kind === 'end' && end.ok && end.traceHash === a.traceHash);
  // Events of one kind come in time order where the page looks them up by time.
  for (const kind of ['trace', 'cuts', 'fault'] as const) {
    const ts = events.filter((e) => e.kind === kind).map((e) => e.t);
    assert.deepEqual(ts, [...ts].sort((x, y) => x - y), kind);
  }
});

test('runLabTest observer: a failed test ends with its failure (and the hash covers the failure)', async () => {
  const failing: LabTest = {
    title: 'a test that fails',
    fn: async (env) => {
      const cfg = env.makeConfig(3, false);
      cfg.begin('a test that fails');
      await cfg.checkOneLeader();
      cfg.disconnect(0);
      throw new Error('deliberate');
    },
  };
  const events: SimEvent[] = [];
  const r = await runLabTest(failing, { seed: 1, hashTrace: true, observer: (e) => events.push(e), log: () => {} });
  assert.equal(r.ok, false);
  const failure = events.find((e) => e.kind === 'failure');
  assert.ok(failure?.kind === 'failure' && failure.message === 'deliberate' && failure.t > 0);
  assert.ok(events.some((e) => e.kind === 'trace' && e.line === 'tester: ... FAILED: deliberate'));
  assert.ok(events.some((e) => e.kind === 'cuts' && e.name === 'S0 disconnected'));
  const passing = await runLabTest({ ...failing, fn: async (env) => void (await env.makeConfig(3, false).checkOneLeader()) }, { seed: 1, hashTrace: true, log: () => {} });
  assert.notEqual(passing.traceHash, r.traceHash);
});

test('npm run lab -- --html: one test, one seed, virtual time, memory storage, tsraft\'s own Raft; anything else is a usage error (exit 2)', async () => {
  const file = path.join(dir, 'x.html');
  const cases: [string[], RegExp][] = [
    [['--seed', '1', '--grep', '2A', '--html', file], /--html replays one test: .*matches 3/],
    [['--seed', '1', '--grep', REELECTION, '--real', '--html', file], /--html .*--real/],
    [['--seed', '1', '--grep', REELECTION, '--storage', 'file', '--html', file], /--html .*--storage file/],
    [['--seed', '1', '--grep', REELECTION, '--impl', 'some/raft.js', '--html', file], /--html .*--impl/],
    [['--seed', '1', '--grep', REELECTION, '--runs', '2', '--html', file], /--html replays one run/],
    [['--seed', '1', '--grep', REELECTION, '--html', ''], /--html needs a file name/],
  ];
  for (const [argv, message] of cases) {
    const r = await run(...argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.equal(r.out.length, 1, r.out.join('\n'));
    assert.match(r.out[0]!, /^error: /);
    assert.match(r.out[0]!, message);
  }
  assert.equal(existsSync(file), false, 'nothing written');
  const ok = await run('--seed', '1', '--grep', REELECTION, '--html', file);
  assert.equal(ok.code, 0, ok.out.join('\n'));
  const page = readFileSync(file, 'utf8');
  const embedded = /<script type="application\/json" id="tsraft-run">(.*?)<\/script>/.exec(page)?.[1];
  assert.deepEqual(JSON.parse(embedded!), { kind: 'lab', title: 'Test (2A): election after network failure', seed: 1, cliHash: hashOf(ok.out) });
});
