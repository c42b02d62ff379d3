/**
 * examples/recipes/lock-demo (the runnable example of docs/RECIPES.md) as a
 * real child process against three in-process nodes: its workers' counter
 * goes up by one per critical section with increasing tokens, and the paused
 * holder's fenced write is refused.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inProcessClusterSuite } from '../api/in-process-cluster.js';

const DEMO = fileURLToPath(new URL('../../examples/recipes/lock-demo.js', import.meta.url));
const servers = inProcessClusterSuite('tsraft-lock-demo-', 'lock-demo-test');

function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DEMO, ...args], { timeout: 60_000 }, (e, out, err) => {
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : 1, out, err });
    });
  });
}

test('lock-demo against a cluster: counter exact, one increment per holder, tokens increasing, the stale holder refused', async () => {
  const { code, out, err } = await run(['--endpoints', servers.map((s) => s.apiUrl).join(','), '--workers', '3', '--rounds', '2']);
  assert.equal(code, 0, `exit ${code}\n${out}\n${err}`);
  const holds = [...out.matchAll(/^worker (\d) holds lock-demo\/lock \(token (\d+)\): counter (\d+) -> (\d+)$/gm)];
  assert.equal(holds.length, 6, out);
  holds.forEach((m, i) => {
    assert.equal(Number(m[3]), i, `critical section ${i} read ${m[3]}`);
    assert.equal(Number(m[4]), i + 1);
    if (i > 0) assert.ok(Number(m[2]) > Number(holds[i - 1]![2]), 'tokens not increasing');
  });
  assert.match(out, /^counter = 6 \(3 workers x 2 rounds\)$/m);
  const a = /^A holds the lock \(token (\d+)\) and pauses$/m.exec(out);
  const b = /^B holds the lock \(token (\d+)\) (\d+) ms later/m.exec(out);
  assert.ok(a && b, out);
  assert.ok(Number(b[1]) > Number(a[1]));
  assert.ok(Number(b[2]) >= 900, `B took over ${b[2]} ms after A paused, before A's lease could expire`);
  assert.match(out, new RegExp(`^A's fenced write with token ${a[1]}: refused$`, 'm'));
  assert.match(out, /^resource = written by B$/m);
});
