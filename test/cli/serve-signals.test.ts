import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { serve } from '../../src/cli/serve.js';
import { freePort } from '../util/ports.js';


async function healthy(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${url} never became healthy`);
}

test('a second SIGTERM during the clean stop exits at once with code 1; one SIGTERM stops cleanly with 0', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'tsraft-signals-'));
  try {
    const run = async (signals: number): Promise<{ resolved: number; exits: number[]; lines: string[] }> => {
      const [raft, api] = [await freePort(), await freePort()];
      const exits: number[] = [];
      const lines: string[] = [];
      const done = serve(
        { id: 'n1', data: path.join(root, `n1-${signals}`), listen: `127.0.0.1:${raft}`, api: `127.0.0.1:${api}`, peers: `n1=127.0.0.1:${raft}`, insecurePeers: true, logLevel: 'error' },
        (l) => lines.push(l),
        (c) => exits.push(c),
      );
      await healthy(`http://127.0.0.1:${api}`);
      // Both signals in one turn: the second arrives while the first stop is still running.
      for (let i = 0; i < signals; i++) process.emit('SIGTERM');
      const resolved = await done;
      process.removeAllListeners('SIGTERM');
      process.removeAllListeners('SIGINT');
      return { resolved, exits, lines };
    };
    const once = await run(1);
    assert.deepEqual([once.resolved, once.exits], [0, []], once.lines.join('\n'));
    const twice = await run(2);
    assert.deepEqual(twice.exits, [1], 'the second signal exits with 1 without waiting');
    assert.match(twice.lines.join('\n'), /SIGTERM again: exiting without waiting/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
