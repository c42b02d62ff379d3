/**
 * The whole 6.824 Raft lab suite (2A–2D) in seeded virtual time, once with the
 * lab's in-memory persister and once with FileStorage on real files. Each
 * test's Passed line is printed as a diagnostic; a failure names the seed and
 * the command that replays it.
 */
import { test } from 'node:test';
import { replayCommand } from '../../src/lab/cli.js';
import { runLabTest } from '../../src/lab/runner.js';
import { raftTests } from '../../src/lab/suite/raft.js';

const seeds = (process.env['TSRAFT_LAB_SEEDS'] ?? '1').split(',').map(Number);
const storages = (process.env['TSRAFT_LAB_STORAGE'] ?? 'memory,file').split(',') as ('memory' | 'file')[];

for (const storage of storages) {
  for (const seed of seeds) {
    for (const lt of raftTests) {
      test(`${lt.title} [seed ${seed}, ${storage} storage]`, async (t) => {
        const r = await runLabTest(lt, { seed, storage, log: (l) => t.diagnostic(l) });
        if (!r.ok) {
          const err = r.error instanceof Error ? r.error : new Error(String(r.error));
          err.message += `\n  replay: ${replayCommand(lt.title, seed, false, storage)}`;
          throw err;
        }
      });
    }
  }
}
