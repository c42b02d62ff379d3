/**
 * The parts of `npm run bench -- --compare etcd` that need neither etcd nor wrk:
 * parsing the WRKJSON line of bench/wrk/kv.lua, CPU accounting from /proc stat
 * lines, rows, medians and ratios.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { cpuTicksFromStat, LOADS, machineTicksFromProcStat, median, parseWrkOutput, rowFromWrk, selectLoads, summarize, summaryTable, type Row } from '../../bench/compare-etcd.js';

const WRK_OUT = `Running 10s test @ http://127.0.0.1:4000
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    17.01ms   10.02ms 150.00ms   80.00%
  36000 requests in 10.00s, 5.00MB read
  Non-2xx or 3xx responses: 12
Requests/sec:   3600.00
Transfer/sec:    512.00KB
WRKJSON {"requests":36000,"duration_us":10000000,"bytes":5242880,"errors":{"connect":0,"read":1,"write":0,"status":12,"timeout":2},"latency_us":{"min":900,"mean":17010.5,"p50":16000,"p90":25000,"p99":44000,"p999":90000,"max":150000}}
`;

test('parseWrkOutput reads the WRKJSON line among the rest of wrk output', () => {
  const r = parseWrkOutput(WRK_OUT);
  assert.equal(r.requests, 36000);
  assert.equal(r.duration_us, 10_000_000);
  assert.equal(r.errors.status, 12);
  assert.equal(r.latency_us.p99, 44000);
  assert.equal(r.latency_us.max, 150000);
});

test('parseWrkOutput refuses output without the line, or a malformed one', () => {
  assert.throws(() => parseWrkOutput('Requests/sec: 100\n'), /no WRKJSON line/);
  assert.throws(() => parseWrkOutput('WRKJSON {"requests":1}\n'), /malformed/);
  assert.throws(() => parseWrkOutput('WRKJSON {not json\n'));
});

test('rowFromWrk: successful requests per second, latencies in ms, every kind of error counted', () => {
  const row = rowFromWrk(parseWrkOutput(WRK_OUT), { round: 1, system: 'tsraft', op: 'put', connections: 64, cpuSeconds: 3.5, otherCpuSeconds: 0.2, machineCpuSeconds: 19 });
  assert.equal(row.rps, (36000 - 12) / 10);
  assert.equal(row.p50ms, 16);
  assert.equal(row.p99ms, 44);
  assert.equal(row.maxms, 150);
  assert.equal(row.errors, 15);
  assert.equal(row.seconds, 10);
});

test('cpuTicksFromStat: utime + stime, even with spaces and parentheses in the command name', () => {
  // Fields: pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
  const line = '4242 (node (x) y) S 1 4242 4242 0 -1 4194304 1234 0 5 0 731 269 7 3 20 0 11 0 100 1000000 5000 18446744073709551615';
  assert.equal(cpuTicksFromStat(line), 731 + 269);
  assert.throws(() => cpuTicksFromStat('garbage'));
});

test("cpuTicksFromStat reads this process's own /proc stat line", { skip: process.platform !== 'linux' }, () => {
  const ticks = cpuTicksFromStat(readFileSync('/proc/self/stat', 'utf8'));
  assert.ok(Number.isInteger(ticks) && ticks >= 0);
});

test('machineTicksFromProcStat: busy = total minus idle and iowait', () => {
  const s = 'cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n';
  assert.deepEqual(machineTicksFromProcStat(s), { busy: 100 + 5 + 50 + 3 + 2 + 1, total: 1181 });
});

test('summarize: medians per load and system, errors summed, ratios tsraft/etcd', () => {
  const mk = (system: 'tsraft' | 'etcd', round: number, rps: number, p99ms: number, errors = 0): Row => ({
    round, system, op: 'put', connections: 64, rps, p50ms: 10, p99ms, maxms: 100, errors, cpuSeconds: 2, otherCpuSeconds: 0.1, machineCpuSeconds: 4, seconds: 10,
  });
  const rows = [mk('tsraft', 1, 3000, 40, 1), mk('etcd', 1, 2000, 50), mk('tsraft', 2, 5000, 60, 2), mk('etcd', 2, 2000, 70), mk('tsraft', 3, 4000, 30), mk('etcd', 3, 2600, 60)];
  const [s] = summarize(rows, [{ op: 'put', connections: 64 }]);
  assert.ok(s !== undefined);
  assert.equal(s.tsraft.rps, 4000);
  assert.equal(s.etcd.rps, 2000);
  assert.equal(s.ratio.rps, 2);
  assert.equal(s.tsraft.p99ms, 40);
  assert.equal(s.ratio.p99ms, 40 / 60);
  assert.equal(s.tsraft.errors, 3);
  assert.match(summaryTable([s]), /\| writes, 64 conn \| 4,000 \| 2,000 \| 2\.00 \|/);
});

test('median of an even count is the mean of the middle two', () => {
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('selectLoads: every load by default, the named ones with BENCH_LOADS, a clear error for an unknown one', () => {
  assert.equal(selectLoads(undefined), LOADS);
  assert.equal(selectLoads(' '), LOADS);
  assert.deepEqual(selectLoads('txn'), [{ op: 'txn', connections: 64 }]);
  assert.deepEqual(
    selectLoads('get, put').map((l) => `${l.op}/${l.connections}`),
    ['put/1', 'put/8', 'put/64', 'put/256', 'get/64'],
  );
  assert.throws(() => selectLoads('put,cas'), /BENCH_LOADS: unknown load "cas" \(known: put, get, get-lease, txn\)/);
});
