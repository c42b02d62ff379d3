/**
 * `npm run bench:lease-tick`: what one tick of the leader's lease timer
 * (src/kv/lease-expirer.ts, every 100 ms) costs with N leases (default
 * 10,000; BENCH_LEASES=a,b to change), none of them due: the steady state of
 * a leader. Reports the median and the maximum of 200 ticks after 20 warm-up
 * ticks, in microseconds, against the state machine's lease table.
 */
import { performance } from 'node:perf_hooks';
import { KvStateMachine } from '../src/kv/state-machine.js';
import { LeaseExpirer } from '../src/kv/lease-expirer.js';
import { encode } from '../src/util/codec.js';

const COUNTS = (process.env['BENCH_LEASES'] ?? '10000').split(',').map(Number);
const TICKS = 200;
const WARMUP = 20;

console.log('bench:lease-tick: one tick of the leader\'s lease timer, no lease due (µs)');
for (const n of COUNTS) {
  const sm = new KvStateMachine();
  for (let i = 1; i <= n; i++) sm.apply(encode({ kind: 'lease-grant', ttl: 60, time: 0 }), { index: i, term: 1 });
  let now = 0;
  const expirer = new LeaseExpirer({
    leases: () => sm.leaseStates(),
    leadership: () => ({ leader: true, term: 1 }),
    proposeExpiry: () => Promise.resolve(),
    now: () => now,
    leaderExtensionMs: 1000,
  });
  const times: number[] = [];
  for (let t = 0; t < WARMUP + TICKS; t++) {
    now += 100;
    const start = performance.now();
    expirer.tick();
    const us = (performance.now() - start) * 1000;
    if (t >= WARMUP) times.push(us);
  }
  times.sort((a, b) => a - b);
  console.log(`${n} leases: median ${times[Math.floor(times.length / 2)]!.toFixed(0)} µs, max ${times.at(-1)!.toFixed(0)} µs, expiries proposed ${expirer.proposed}`);
}
