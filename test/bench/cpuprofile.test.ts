/** bench/cpuprofile.ts: self time per function and per file of a hand-made V8 CPU profile. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { profileTables, shortUrl, summarizeProfile, type CpuProfile } from '../../bench/cpuprofile.js';

const APP = 'file:///app/dist/src/kv/store.js';
const LIB = 'file:///app/node_modules/pino/lib/tools.js';

// root -> main -> put (store.js:10) -> encode (store.js:40)
//              -> log (pino) -> put (store.js:10, the same function under another caller)
// plus (idle), (garbage collector), (program).
const PROFILE: CpuProfile = {
  nodes: [
    { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 6, 7, 8] },
    { id: 2, callFrame: { functionName: 'main', url: APP, lineNumber: 0 }, children: [3, 5] },
    { id: 3, callFrame: { functionName: 'put', url: APP, lineNumber: 9 }, children: [4] },
    { id: 4, callFrame: { functionName: 'encode', url: APP, lineNumber: 39 } },
    { id: 5, callFrame: { functionName: 'log', url: LIB, lineNumber: 99 }, children: [9] },
    { id: 6, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
    { id: 7, callFrame: { functionName: '(garbage collector)', url: '', lineNumber: -1 } },
    { id: 8, callFrame: { functionName: '(program)', url: '', lineNumber: -1 } },
    { id: 9, callFrame: { functionName: 'put', url: APP, lineNumber: 9 } },
  ],
  startTime: 1_000_000,
  // Samples at 1,001,000 (+1000), 1,003,000, 1,006,000, 1,010,000, 1,011,000, 1,013,000, 1,014,000, 1,020,000; end at 1,022,000.
  samples: [3, 4, 9, 6, 7, 5, 8, 3],
  timeDeltas: [1000, 2000, 3000, 4000, 1000, 2000, 1000, 6000],
  endTime: 1_022_000,
};

test('self time: a sample lasts until the next one (the last until endTime); one function under two callers is summed', () => {
  const s = summarizeProfile(PROFILE);
  const by = (name: string): number => s.functions.find((f) => f.functionName === name)?.selfMs ?? NaN;
  // put: node 3 at 1,001,000 (2 ms) + node 9 at 1,006,000 (4 ms) + node 3 at 1,020,000 (2 ms, to endTime).
  assert.equal(by('put'), 8);
  assert.equal(by('encode'), 3);
  assert.equal(by('log'), 1);
  assert.equal(by('(garbage collector)'), 2);
  assert.equal(by('(program)'), 6);
  assert.equal(s.idleMs, 1);
  assert.equal(s.totalMs, 21);
  assert.equal(s.busyMs, 20);
  assert.equal(s.samples, 8);
  // (idle) is not a function of the table; the rest is sorted by self time, percent of busy time.
  assert.deepEqual(s.functions.map((f) => f.functionName), ['put', '(program)', 'encode', '(garbage collector)', 'log']);
  assert.equal(s.functions[0]!.pct, 40);
  assert.equal(s.functions.find((f) => f.functionName === 'put')!.line, 10);
  assert.equal(s.functions.find((f) => f.functionName === '(program)')!.line, 0);
});

test('callers: the self time of a function split by the frame that called it', () => {
  const put = summarizeProfile(PROFILE).functions.find((f) => f.functionName === 'put')!;
  assert.deepEqual(put.callers, [
    { caller: `main ${APP}:1`, ms: 4 },
    { caller: `log ${LIB}:100`, ms: 4 },
  ]);
  const gc = summarizeProfile(PROFILE).functions.find((f) => f.functionName === '(garbage collector)')!;
  assert.deepEqual(gc.callers, [{ caller: '(root)', ms: 2 }]);
});

test("callers skip Node's internal frames up to the first frame of the application or a library", () => {
  const p: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 5] },
      { id: 2, callFrame: { functionName: 'send', url: APP, lineNumber: 4 }, children: [3] },
      { id: 3, callFrame: { functionName: 'writevGeneric', url: 'node:internal/stream_base_commons', lineNumber: 122 }, children: [4] },
      { id: 4, callFrame: { functionName: 'writev', url: '', lineNumber: -1 } },
      { id: 5, callFrame: { functionName: 'processTicksAndRejections', url: 'node:internal/process/task_queues', lineNumber: 60 }, children: [6] },
      { id: 6, callFrame: { functionName: 'writev', url: '', lineNumber: -1 } },
    ],
    startTime: 0,
    samples: [4, 6],
    timeDeltas: [0, 3000],
    endTime: 4000,
  };
  const writev = summarizeProfile(p).functions.find((f) => f.functionName === 'writev')!;
  assert.deepEqual(writev.callers, [
    { caller: `send ${APP}:5`, ms: 3 },
    { caller: '(root)', ms: 1 },
  ]);
});

test('files: self time grouped by script, frames without a URL as (native)', () => {
  const s = summarizeProfile(PROFILE);
  assert.deepEqual(
    s.files.map((f) => [f.url, f.selfMs]),
    [
      [APP, 11],
      ['(native)', 8],
      [LIB, 1],
    ],
  );
});

test('a window counts only the samples taken inside it', () => {
  // [1,005,000, 1,013,000): the samples at 1,006,000 (put, 4 ms), 1,010,000 (idle, 1 ms), 1,011,000 (GC, 2 ms).
  const s = summarizeProfile(PROFILE, { fromUs: 1_005_000, toUs: 1_013_000 });
  assert.equal(s.samples, 3);
  assert.equal(s.totalMs, 7);
  assert.equal(s.idleMs, 1);
  assert.deepEqual(s.functions.map((f) => [f.functionName, f.selfMs]), [['put', 4], ['(garbage collector)', 2]]);
});

test('a malformed profile is refused naming what is wrong', () => {
  assert.throws(() => summarizeProfile({ ...PROFILE, timeDeltas: [1] }), /timeDeltas/);
  assert.throws(() => summarizeProfile({ ...PROFILE, samples: [3, 4, 9, 6, 7, 5, 8, 42] }), /sample 7 names node 42/);
});

test('tables: top functions with file:line, shortened paths', () => {
  assert.equal(shortUrl(LIB), 'node_modules/pino/lib/tools.js');
  assert.equal(shortUrl(APP, '/app'), 'dist/src/kv/store.js');
  const t = profileTables(summarizeProfile(PROFILE), 2, '/app');
  assert.match(t, /\| 1 \| put \| dist\/src\/kv\/store\.js:10 \| 8\.0 \| 40\.0 \|/);
  assert.match(t, /\| 2 \| \(program\) \| \(native\) \| 6\.0 \| 30\.0 \|/);
  assert.doesNotMatch(t, /\| 3 \| encode/);
  assert.match(t, /- put: main dist\/src\/kv\/store\.js:1 4\.0; log node_modules\/pino\/lib\/tools\.js:100 4\.0/);
});
