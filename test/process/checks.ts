/** The checks every real-process test ends with: no acknowledged write lost, a linearizable history. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkHistory, explain, writeReport } from '../../src/check/index.js';
import { KvClient } from '../../src/client/index.js';
import type { Workload } from './harness.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** Every put the workload saw acknowledged is in the store (read through `endpoints`), and there were enough of them. */
export async function assertAllAcked(endpoints: string[], w: Workload): Promise<void> {
  const kv = new KvClient({ endpoints, timeoutMs: 10_000 });
  const items = new Map((await kv.list('own-')).map((i) => [i.key, i.value]));
  for (const [key, value] of w.acked) assert.equal(items.get(key), value, `acknowledged write ${key}=${value} is missing`);
  assert.ok(w.acked.size > 20, `only ${w.acked.size} writes were acknowledged`);
}

/** The recorded history must pass `tsraft check` (the command users run), and the checker's API. */
export function assertLinearizable(w: Workload, name: string): void {
  const r = checkHistory(w.history, { timeoutMs: 60_000 });
  if (r.verdict !== 'ok') {
    const report = r.verdict === 'illegal' ? writeReport(r, name) : 'none';
    assert.fail(`${name}: history of ${w.history.length} operations is ${r.verdict}: ${explain(r)}; report: ${report}`);
  }
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'tsraft-hist-')), `${name}.json`);
  writeFileSync(file, JSON.stringify(w.history));
  const out = spawnSync(process.execPath, [CLI, 'check', file], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stdout + out.stderr);
  assert.equal(out.stdout.trim(), 'linearizable');
  rmSync(path.dirname(file), { recursive: true, force: true });
}
