/** NodeMetrics over a real watch hub: a cut stream is counted once by reason, however often it is scraped. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeCommand, type KvCommand } from '../../src/kv/commands.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { NodeMetrics } from '../../src/server/metrics.js';
import { turn, watchSetup } from './watch-fixture.js';

const put = (key: string, value: string): Uint8Array => encodeCommand({ op: 'put', key, value, time: 1 } as KvCommand);

test('tsraft_watchers_cut_total{reason} counts a cut stream once; tsraft_watchers drops with it', async () => {
  const { sm, hub, out } = watchSetup();
  const metrics = new NodeMetrics({ node: () => null, peers: () => new Map(), labels: { node: 'x' }, watch: () => hub.stats });
  const value = async (re: RegExp): Promise<number | null> => {
    const m = re.exec(await metrics.text());
    return m === null ? null : Number(m[1]);
  };
  sm.apply(put('a/1', 'x'), { index: 1, term: 1 });
  hub.open(out, { prefix: 'a/', fromRevision: 1 });
  await turn();
  assert.equal(await value(/^tsraft_watchers\{node="x"\} (\d+)$/m), 1);
  assert.equal(await value(/^tsraft_watch_events_sent_total\{node="x"\} (\d+)$/m), 1);
  // A snapshot installed past the watcher's next revision cuts it (compacted).
  const donor = new KvStateMachine();
  for (let i = 1; i <= 9; i++) donor.apply(put(`a/${i}`, 'y'), { index: i, term: 1 });
  sm.restore(donor.snapshot(), { index: 9, term: 1 });
  await turn();
  assert.equal(await value(/^tsraft_watchers_cut_total\{reason="compacted",node="x"\} (\d+)$/m), 1);
  assert.equal(await value(/^tsraft_watchers_cut_total\{reason="compacted",node="x"\} (\d+)$/m), 1, 'scraped again: still 1');
  assert.equal(await value(/^tsraft_watchers_cut_total\{reason="slow-watcher",node="x"\} (\d+)$/m), 0);
  assert.equal(await value(/^tsraft_watchers\{node="x"\} (\d+)$/m), 0);
  hub.close();
});
