import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LAB_HELP, labMain } from '../../src/lab/cli.js';
import { raftTests } from '../../src/lab/suite/raft.js';

async function run(...argv: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await labMain(raftTests, new URL(import.meta.url), argv, (l) => out.push(l));
  return { code, out };
}

test('npm run lab -- --help: every option with a line of explanation, examples, exit 0', async () => {
  for (const argv of [['--help'], ['-h'], ['--seed', 'x', '--help']]) {
    const r = await run(...argv);
    assert.equal(r.code, 0, argv.join(' '));
    const text = r.out.join('\n');
    assert.equal(text, LAB_HELP);
    for (const opt of ['--seed', '--runs', '--grep', '--jobs', '--real', '--storage', '--impl', '--help']) {
      assert.match(text, new RegExp(`^  (-h, )?${opt}(?![\\w-]).*\\S+\\s{2,}\\S`, 'm'), `${opt} has its own explained line`);
    }
    assert.match(text, /^examples:\n( {2}npm run lab.*\n)+/m);
  }
});

test('npm run lab: a mistake is one error line with the usage, exit 2', async () => {
  for (const argv of [['--bogus'], ['--seed', 'x'], ['--storage', 'tape'], ['--grep', '(']]) {
    const r = await run(...argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.equal(r.out.length, 1);
    assert.match(r.out[0]!, /^error: .*usage: npm run lab/);
  }
});
