/** The watch hub on its own streams: delivery happens off the apply path; a snapshot installed under a watcher cuts it. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { encodeCommand, type KvCommand } from '../../src/kv/commands.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { WatchCompactedError } from '../../src/kv/watch-history.js';
import { WatchHub } from '../../src/server/watch.js';
import { silentLogger } from '../../src/util/log.js';
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

test('watchers of one prefix at one cursor are sent the same bytes, encoded once per pass', async () => {
  const { sm, history } = watchSetup();
  const hub = new WatchHub({ history, revision: () => sm.revision, logger: silentLogger(), progressMs: 60_000 });
  const chunks: unknown[][] = [[], [], []];
  const outs = chunks.map((got) => {
    const o = new PassThrough();
    const write = o.write.bind(o);
    o.write = ((chunk: string | Buffer) => {
      got.push(chunk);
      return write(chunk);
    }) as typeof o.write;
    o.resume();
    return o;
  });
  for (const o of outs) hub.open(o, { prefix: 'a/' });
  await turn();
  for (const got of chunks) got.length = 0; // the start events
  for (let i = 1; i <= 6; i++) sm.apply(put(i % 2 === 0 ? `a/${i}` : `b/${i}`, String(i)), { index: i, term: 1 });
  await new Promise((r) => setTimeout(r, 20));
  for (const got of chunks) assert.equal(got.length, 1, 'one write per watcher');
  assert.ok(Buffer.isBuffer(chunks[0]![0]));
  assert.equal(chunks[1]![0], chunks[0]![0], 'the same buffer');
  assert.equal(chunks[2]![0], chunks[0]![0], 'the same buffer');
  assert.deepEqual([...String(chunks[0]![0]).matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1])), [2, 4, 6]);
  assert.equal(hub.stats.sent, 9);
  hub.close();
});

test('when passes are expensive they are spaced out (delivery takes at most its share of the loop), and nothing is lost', async () => {
  /** Passes made while one change is applied per 2 ms for 300 ms, to 10 watchers whose every write costs 1 ms. */
  async function run(deliveryShare: number): Promise<{ passes: number; delivered: number[] }> {
    const { sm, history } = watchSetup();
    const hub = new WatchHub({ history, revision: () => sm.revision, logger: silentLogger(), progressMs: 60_000, deliveryShare });
    const texts: string[] = [];
    for (let w = 0; w < 10; w++) {
      const o = new PassThrough();
      const write = o.write.bind(o);
      o.write = ((chunk: string | Buffer) => {
        const until = performance.now() + 1;
        while (performance.now() < until); // a slow socket write
        return write(chunk);
      }) as typeof o.write;
      texts.push('');
      o.setEncoding('utf8');
      o.on('data', (d: string) => (texts[w] += d));
      hub.open(o, { prefix: 'k' });
    }
    await turn();
    const start = hub.stats.passes;
    let i = 0;
    const end = performance.now() + 300;
    while (performance.now() < end) {
      sm.apply(put(`k${++i}`, 'v'), { index: i, term: 1 });
      await new Promise((r) => setTimeout(r, 2));
    }
    const passes = hub.stats.passes - start;
    await new Promise((r) => setTimeout(r, 200));
    const delivered = texts.map((t) => [...t.matchAll(/^event: put$/gm)].length - i);
    hub.close();
    return { passes, delivered };
  }
  const unthrottled = await run(1);
  const shared = await run(0.25);
  assert.deepEqual(shared.delivered, Array(10).fill(0), 'every change reached every watcher');
  assert.deepEqual(unthrottled.delivered, Array(10).fill(0));
  assert.ok(shared.passes * 2 < unthrottled.passes, `passes with a quarter share: ${shared.passes}, without a bound: ${unthrottled.passes}`);
});
