/** The watch hub on its own streams: delivery happens off the apply path; a snapshot installed under a watcher cuts it. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { encodeCommand, type KvCommand } from '../../src/kv/commands.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { WatchCompactedError } from '../../src/kv/watch-history.js';
import { turn, watchSetup } from './watch-fixture.js';

const put = (key: string, value: string): Uint8Array => encodeCommand({ op: 'put', key, value, time: 1 } as KvCommand);


test('applying a change writes nothing to watchers; the next turn delivers every change of the turn in one pass', async () => {
  const { sm, hub, out, text } = watchSetup();
  hub.open(out, { prefix: 'a/' });
  await turn();
  const before = text();
  let writes = 0;
  const write = out.write.bind(out);
  out.write = ((chunk: string) => {
    writes += 1;
    return write(chunk);
  }) as typeof out.write;
  for (let i = 1; i <= 20; i++) sm.apply(put(i % 2 === 0 ? `a/${i}` : `b/${i}`, String(i)), { index: i, term: 1 });
  assert.equal(writes, 0, 'nothing is written on the apply path');
  await turn();
  await turn();
  assert.equal(writes, 1, 'the 10 changes under the prefix go out in one write');
  const revs = [...text().slice(before.length).matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  assert.deepEqual(revs, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
  hub.close();
});

test('a snapshot installed past a watcher\'s revision cuts it with a compacted error; a new watch from before it is refused', async () => {
  const { sm, hub, out, text } = watchSetup();
  sm.apply(put('a/1', 'x'), { index: 1, term: 1 });
  hub.open(out, { prefix: 'a/', fromRevision: 1 });
  await turn();
  const donor = new KvStateMachine();
  for (let i = 1; i <= 9; i++) donor.apply(put(`a/${i}`, 'y'), { index: i, term: 1 });
  sm.restore(donor.snapshot(), { index: 9, term: 1 });
  await turn();
  const m = /event: error\ndata: (.*)\n/.exec(text());
  assert.ok(m !== null, text());
  const err = JSON.parse(m[1]!) as { error: string; nextRevision: number; oldestRevision: number; message: string };
  assert.deepEqual([err.error, err.nextRevision, err.oldestRevision], ['compacted', 2, 10]);
  assert.match(err.message, /installed a snapshot at revision 9/);
  assert.equal(hub.stats.watchers, 0);
  assert.throws(() => hub.open(new PassThrough(), { prefix: 'a/', fromRevision: 5 }), WatchCompactedError);
  hub.close();
});
