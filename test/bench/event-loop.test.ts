/** bench/event-loop.ts and the event-loop columns of the etcd comparison. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { rowEventLoop, summarize, summaryTable, type Row } from '../../bench/compare-etcd.js';
import { parseEventLoopFigures } from '../../bench/event-loop.js';

const TEXT = `# HELP nodejs_eventloop_lag_p99_seconds The 99th percentile of the recorded event loop delays.
# TYPE nodejs_eventloop_lag_p99_seconds gauge
nodejs_eventloop_lag_p99_seconds 0.012
nodejs_eventloop_lag_max_seconds 0.0845
nodejs_eventloop_lag_p90_seconds 0.011
nodejs_gc_duration_seconds_sum{kind="minor"} 1.25
nodejs_gc_duration_seconds_sum{kind="major"} 0.5
nodejs_gc_duration_seconds_count{kind="minor"} 600
`;

test('parseEventLoopFigures: p99 and max in ms, GC seconds summed over kinds', () => {
  const f = parseEventLoopFigures(TEXT);
  assert.equal(f.p99ms, 12);
  assert.equal(f.maxms, 84.5);
  assert.equal(f.gcSeconds, 1.75);
  assert.throws(() => parseEventLoopFigures('nodejs_eventloop_lag_seconds 0.01\n'), /nodejs_eventloop_lag_p99_seconds/);
  assert.ok(Number.isNaN(parseEventLoopFigures('nodejs_eventloop_lag_p99_seconds 0.01\nnodejs_eventloop_lag_max_seconds 0.02\n').gcSeconds));
});

test("prom-client's own exposition parses, and its histogram is reset by each scrape", async () => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  await new Promise((r) => setTimeout(r, 50));
  // Block the event loop for 300 ms: the next scrape must see a max of at least 250 ms, and the one after (a quiet interval) less.
  const until = performance.now() + 300;
  setImmediate(() => {
    while (performance.now() < until);
  });
  await new Promise((r) => setTimeout(r, 400));
  const first = parseEventLoopFigures(await registry.metrics());
  assert.ok(first.maxms >= 250, `max ${first.maxms} ms after a 300 ms block`);
  await new Promise((r) => setTimeout(r, 100));
  const second = parseEventLoopFigures(await registry.metrics());
  assert.ok(second.maxms < 250, `max ${second.maxms} ms in a quiet interval after the reset`);
  registry.clear();
});

test('rowEventLoop: delays of the second scrape, GC the difference; medians in the summary table', () => {
  const loop = rowEventLoop({ p99ms: 3, maxms: 90, gcSeconds: 10 }, { p99ms: 15, maxms: 40, gcSeconds: 10.8 });
  assert.equal(loop.p99ms, 15);
  assert.equal(loop.maxms, 40);
  assert.ok(Math.abs(loop.gcSeconds - 0.8) < 1e-9);
  const mk = (system: 'tsraft' | 'etcd', round: number, l?: { p99ms: number; maxms: number; gcSeconds: number }): Row => ({
    round, system, op: 'put', connections: 64, rps: 1000, p50ms: 10, p99ms: 20, maxms: 30, errors: 0, cpuSeconds: 2, otherCpuSeconds: 0.1, machineCpuSeconds: 4, seconds: 10, ...(l !== undefined && { loop: l }),
  });
  const rows = [mk('tsraft', 1, { p99ms: 10, maxms: 50, gcSeconds: 0.4 }), mk('etcd', 1), mk('tsraft', 2, { p99ms: 30, maxms: 70, gcSeconds: 0.6 }), mk('etcd', 2)];
  const [s] = summarize(rows, [{ op: 'put', connections: 64 }]);
  assert.deepEqual(s!.tsraftLoop, { p99ms: 20, maxms: 60, gcSeconds: 0.5 });
  assert.match(summaryTable([s!]), /\| 20\.0 \/ 60\.0 \| 0\.50 \|$/m);
});

test("parseEventLoopFigures prefers tsraft_event_loop_delay_seconds (the interval subtracted) over prom-client's lag", () => {
  const text = [
    'nodejs_eventloop_lag_p99_seconds{node="n1"} 0.0131',
    'nodejs_eventloop_lag_max_seconds{node="n1"} 0.0402',
    'tsraft_event_loop_delay_seconds{quantile="0.5",node="n1"} 0.0001',
    'tsraft_event_loop_delay_seconds{quantile="0.99",node="n1"} 0.0031',
    'tsraft_event_loop_delay_seconds{quantile="1",node="n1"} 0.0302',
    'nodejs_gc_duration_seconds_sum{node="n1",kind="minor"} 1.5',
  ].join('\n');
  const f = parseEventLoopFigures(text);
  assert.ok(Math.abs(f.p99ms - 3.1) < 1e-9 && Math.abs(f.maxms - 30.2) < 1e-9, JSON.stringify(f));
  assert.equal(f.gcSeconds, 1.5);
});
