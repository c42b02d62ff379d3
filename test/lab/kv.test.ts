/**
 * The 6.824 kvraft suite (3A, 3B) in seeded virtual time, every generic test's
 * history checked for linearizability. A failure names the seed and the
 * command that replays it.
 */
import { test } from 'node:test';
import { replayCommand } from '../../src/lab/cli.js';
import { runLabTest } from '../../src/lab/runner.js';
import { kvTests } from '../../src/lab/suite/kv.js';

const seeds = (process.env['TSRAFT_KV_SEEDS'] ?? '1').split(',').map(Number);

for (const seed of seeds) {
  for (const lt of kvTests) {
    test(`${lt.title} [seed ${seed}]`, async (t) => {
      const r = await runLabTest(lt, { seed, log: (l) => t.diagnostic(l) });
      if (!r.ok) {
        const err = r.error instanceof Error ? r.error : new Error(String(r.error));
        err.message += `\n  replay: ${replayCommand(lt.title, seed, false)}`;
        throw err;
      }
    });
  }
}
