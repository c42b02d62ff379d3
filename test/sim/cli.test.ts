import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { SIM_HELP, parseSimArgs, simMain } from '../../src/sim/cli.js';
import { CANARIES } from '../../src/util/canary.js';

async function run(...argv: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await simMain(argv, (l) => out.push(l));
  return { code, out };
}

test('npm run sim: mistakes are one error line and the usage, exit 2', async () => {
  for (const argv of [[], ['--seeds', '5..x'], ['--seeds', '9..3'], ['--nodes', '4', '--seed', '1'], ['--profile', 'stormy', '--seed', '1'], ['--canary', 'nope'], ['--seeds', '1..2', '--trace'], ['--bogus']]) {
    const r = await run(...argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.out[0]!, /^error: /);
    assert.match(r.out.join('\n'), /usage: npm run sim/);
  }
  assert.deepEqual(parseSimArgs(['--seeds', '3..7']).first, 3);
  assert.deepEqual(parseSimArgs(['--canary', 'ack-before-fsync']).last, 2000, '--canary searches 1..2000 by default');
});

test('npm run sim -- --help: every option with a line of explanation, examples, exit 0', async () => {
  for (const argv of [['--help'], ['-h'], ['--seeds', 'x', '--help']]) {
    const r = await run(...argv);
    assert.equal(r.code, 0, argv.join(' '));
    const text = r.out.join('\n');
    assert.equal(text, SIM_HELP);
    for (const opt of ['--seeds', '--seed', '--nodes', '--profile', '--ops', '--jobs', '--trace', '--trace-json', '--canary', '--check-determinism', '--list-canaries', '--list-checks', '--help']) {
      assert.match(text, new RegExp(`^  (-h, )?${opt}(?![\\w-]).*\\S+\\s{2,}\\S`, 'm'), `${opt} has its own explained line`);
    }
    assert.match(text, /^examples:\n( {2}npm run sim.*\n)+/m);
  }
});

test('npm run sim: --list-canaries and --list-checks', async () => {
  const r = await run('--list-canaries');
  assert.equal(r.code, 0);
  assert.deepEqual(r.out.map((l) => l.split(/\s+/)[0]), Object.keys(CANARIES));
  const c = await run('--list-checks');
  assert.ok(c.out.some((l) => l.startsWith('linearizability')));
});

test('npm run sim: a range of seeds ends with the summary and exit 0', async () => {
  const r = await run('--seeds', '1..3', '--jobs', '1');
  assert.equal(r.code, 0, r.out.join('\n'));
  assert.match(r.out.at(-1)!, /^3 passed, 0 failed$/);
  assert.ok(r.out.some((l) => /seeds\/s/.test(l)));
  assert.ok(r.out.some((l) => l.startsWith('covered: crashes')));
});

test('npm run sim: --canary stops at the first catching seed (exit 0) or says it survived (exit 1)', async () => {
  const caught = await run('--canary', 'double-apply-after-snapshot', '--seeds', '1..10', '--jobs', '1');
  assert.equal(caught.code, 0);
  assert.equal(caught.out[1], 'canary double-apply-after-snapshot caught by seed 3: apply-order');
  assert.ok(caught.out.some((l) => l.includes('replay: npm run sim -- --seed 3 --trace --canary double-apply-after-snapshot')));
  const survived = await run('--canary', 'commit-previous-term', '--seeds', '1..2', '--jobs', '1');
  assert.equal(survived.code, 1);
  assert.ok(survived.out.includes('canary commit-previous-term survived'));
});

test('npm run sim: --seed S --trace-json writes the trace for tools', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsraft-sim-'));
  try {
    const file = path.join(dir, 'trace.json');
    const r = await run('--seed', '3', '--trace-json', file);
    assert.equal(r.code, 0);
    const t = JSON.parse(readFileSync(file, 'utf8')) as { seed: number; result: { ok: boolean; traceHash: string }; events: { t: number; event: string }[] };
    assert.equal(t.seed, 3);
    assert.ok(t.result.ok);
    assert.ok(t.events.length > 1000);
    assert.ok(t.events.every((e, i) => i === 0 || e.t >= t.events[i - 1]!.t), 'events in time order');
    assert.ok(t.events.some((e) => /leader term/.test(e.event)));
    assert.ok(r.out.includes(`trace hash ${t.result.traceHash}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
