/**
 * The whole 6.824 Raft lab suite (2A–2D) in seeded virtual time. Each test's
 * Passed line is printed as a diagnostic; a failure names the seed and the
 * command that replays it.
 */
import { test } from 'node:test';
import { replayCommand } from '../../src/lab/cli.js';
import { runLabTest } from '../../src/lab/runner.js';
import { raftTests } from './raft-tests.js';

const seeds = (process.env['TSRAFT_LAB_SEEDS'] ?? '1').split(',').map(Number);

for (const seed of seeds) {
  for (const lt of raftTests) {
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
