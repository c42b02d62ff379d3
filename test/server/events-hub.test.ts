/**
 * The events hub alone (src/server/events.ts): a client that does not read is
 * cut at the bound while the others go on; no timer runs while nobody watches;
 * windowed latencies from histogram readings.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import type { EventsNodeState } from '../../src/api/events-format.js';
import { EventHub, windowLatency, type EventsSource } from '../../src/server/events.js';
import { silentLogger } from '../../src/util/log.js';

function source(counter: { n: number; watching: boolean[] }): EventsSource {
  return {
    state: (): Omit<EventsNodeState, 'rates'> => {
      counter.n += 1;
      return { id: 'n1', nodeId: 1, role: 'leader', term: 1, leader: 'n1', vote: 'n1', commit: counter.n, applied: counter.n, lastIndex: counter.n, lastTerm: 1, snapshotIndex: 0, apiUrl: 'http://x', members: [], peers: [], log: [] };
    },
    counters: () => ({ applied: 0, requests: 0, proposals: 0, sent: new Map(), received: new Map() }),
    histograms: () => Promise.resolve({ proposal: { buckets: [], sum: 0, count: 0 }, fsync: { buckets: [], sum: 0, count: 0 } }),
    watching: (on) => counter.watching.push(on),
  };
}

/** A stream that takes everything and forgets it: a client that keeps up. */
function fastSink(): Writable & { bytes: number } {
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      w.bytes += chunk.length;
      cb();
    },
  }) as Writable & { bytes: number };
  w.bytes = 0;
  return w;
}

/** A stream that never finishes a write: a client that stopped reading. */
function stuckSink(): Writable {
  return new Writable({ highWaterMark: 1024, write() {} });
}

test('a client that stops reading is cut once its unsent output passes the bound; the others keep their stream', async () => {
  const c = { n: 0, watching: [] as boolean[] };
  const hub = new EventHub({ source: source(c), logger: silentLogger(), sampleMs: 5, heartbeatMs: 5, maxBufferedBytes: 4096 });
  const stuck = stuckSink();
  const fast = fastSink();
  hub.attach(stuck);
  hub.attach(fast);
  assert.equal(hub.stats.clients, 2);
  const deadline = Date.now() + 5000;
  while (hub.stats.cut === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(hub.stats.cut, 1);
  assert.ok(stuck.destroyed, 'the stuck client is closed');
  // What it held never passed the bound.
  assert.ok(stuck.writableLength <= 4096, `buffered ${stuck.writableLength}`);
  const had = fast.bytes;
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(fast.bytes > had, 'the client that keeps up still receives');
  assert.equal(hub.stats.clients, 1);
  hub.close();
  assert.deepEqual(c.watching, [true, false]);
});

test('nobody watching: no sampling; events are kept for the next client\'s snapshot', async () => {
  const c = { n: 0, watching: [] as boolean[] };
  const hub = new EventHub({ source: source(c), logger: silentLogger(), sampleMs: 5 });
  for (let i = 0; i < 150; i++) hub.record({ kind: 'term-changed', term: i + 1 });
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(c.n, 0, 'the state was never read');
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk: Buffer, _e, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  hub.attach(w);
  const first = chunks.join('');
  const snap = JSON.parse(/^data: (.*)$/m.exec(first)![1]!) as { events: { term: number; seq: number }[] };
  // The latest 100, in order.
  assert.equal(snap.events.length, 100);
  assert.equal(snap.events[0]!.term, 51);
  assert.equal(snap.events.at(-1)!.seq, 150);
  hub.close();
  const after = c.n;
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(c.n, after, 'sampling stopped with the last client');
  // A closed hub refuses new clients' streams.
  assert.equal(hub.stats.clients, 0);
});

test('windowLatency: mean and quantiles of what was observed between two readings', () => {
  const before = { buckets: [[0.001, 10], [0.01, 10], [0.1, 10], [Infinity, 10]] as [number, number][], sum: 0.005, count: 10 };
  // 100 more observations: 50 within 1 ms..10 ms, 50 within 10 ms..100 ms.
  const after = { buckets: [[0.001, 10], [0.01, 60], [0.1, 110], [Infinity, 110]] as [number, number][], sum: 0.005 + 2.5, count: 110 };
  const l = windowLatency(before, after)!;
  assert.equal(l.count, 100);
  assert.equal(l.meanMs, 25);
  assert.equal(l.p50Ms, 10);
  assert.ok(Math.abs(l.p99Ms - 98.2) < 0.01, `p99 ${l.p99Ms}`);
  assert.equal(windowLatency(after, after), null);
});
