/**
 * `npm run bench:checker`: the linearizability checker on porcupine's
 * published histories (bench/data/porcupine: the 102 Jepsen etcd logs and the
 * six key-value logs), every verdict checked against the one porcupine's
 * tests state, with porcupine's own time beside ours in the same run.
 *
 * Each log is parsed once; then the checks alone are timed: one warm-up pass,
 * then ROUNDS rounds (env CHECKER_ROUNDS, default 5), each set repeated within
 * a round to last about 20 ms; the median time of one pass over a set is
 * reported. Our rounds and porcupine's alternate, so a noisy machine loads
 * both alike. Porcupine is timed the same way (bench/porcupine_timing_test.go)
 * (compiled once with `go test -c`, run once per round, each run warming up
 * first) when `go` is on the PATH and a porcupine source is given:
 *  - PORCUPINE_DIR: a checkout of anishathalye/porcupine (with checker.go), or
 *  - PORCUPINE_GIT_DIR: a git directory of it (extracted with `git archive HEAD`).
 * Go runs offline (GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local): porcupine
 * needs only the standard library. Without either, porcupine's column is skipped.
 * Printed, and written to bench/results/checker.json.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { checkHistory, type HistoryOp, type Verdict } from '../src/check/index.js';
import { parseJepsenEtcdLog, parseJepsenKvLog } from '../src/check/jepsen-logs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DATA = path.join(ROOT, 'bench/data/porcupine');
const EXPECTED = path.join(DATA, 'expected.json');
const ROUNDS = Number(process.env['CHECKER_ROUNDS'] ?? 5);
const KV_SETS = ['c01-ok', 'c01-bad', 'c10-ok', 'c10-bad', 'c50-ok', 'c50-bad'];

interface Case {
  set: string;
  name: string;
  history: HistoryOp[];
  expected: Verdict;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function loadCases(): { cases: Case[]; parseMs: number } {
  const expected = JSON.parse(readFileSync(EXPECTED, 'utf8')) as { etcd: Record<string, Verdict>; kv: Record<string, Verdict> };
  const t0 = performance.now();
  const cases: Case[] = [];
  for (const name of Object.keys(expected.etcd).sort()) {
    const text = gunzipSync(readFileSync(path.join(DATA, 'etcd', `${name}.log.gz`))).toString('utf8');
    cases.push({ set: 'etcd', name, history: parseJepsenEtcdLog(text, name), expected: expected.etcd[name]! });
  }
  for (const name of KV_SETS) {
    const text = gunzipSync(readFileSync(path.join(DATA, 'kv', `${name}.txt.gz`))).toString('utf8');
    cases.push({ set: name, name, history: parseJepsenKvLog(text, name), expected: expected.kv[name]! });
  }
  return { cases, parseMs: performance.now() - t0 };
}

/**
 * Our checker, one round: per set, the time of one pass over its histories. A
 * set is checked `reps` times in the round, enough for about 20 ms (fixed by
 * the warm-up round), so sub-millisecond sets are not timer noise.
 */
function roundOurs(cases: Case[], reps: Map<string, number>, warmUp: boolean): Map<string, number> {
  const times = new Map<string, number>();
  for (const set of new Set(cases.map((c) => c.set))) {
    const n = reps.get(set) ?? 1;
    const t0 = performance.now();
    for (let k = 0; k < n; k++) {
      for (const c of cases) {
        if (c.set !== set) continue;
        const r = checkHistory(c.history, { timeoutMs: 120_000 });
        if (r.verdict !== c.expected) throw new Error(`${c.name}: expected ${c.expected}, the checker says ${r.verdict}`);
      }
    }
    const ms = (performance.now() - t0) / n;
    if (warmUp) reps.set(set, Math.max(1, Math.ceil(20 / Math.max(ms, 0.001))));
    times.set(set, ms);
  }
  return times;
}

/** A porcupine source directory, or why there is none. */
function porcupineSource(): { dir: string; cleanup: () => void } | string {
  const goOk = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (goOk.status !== 0) return 'go is not on the PATH (apt-get install -y golang-go)';
  const tmp = mkdtempSync(path.join(tmpdir(), 'tsraft-porcupine-'));
  const cleanup = (): void => rmSync(tmp, { recursive: true, force: true });
  const checkout = process.env['PORCUPINE_DIR'];
  const gitDir = process.env['PORCUPINE_GIT_DIR'];
  if (checkout !== undefined && checkout !== '') {
    if (!existsSync(path.join(checkout, 'checker.go'))) {
      cleanup();
      return `PORCUPINE_DIR=${checkout} has no checker.go`;
    }
    cpSync(checkout, tmp, { recursive: true, filter: (src) => !src.includes(`${path.sep}.git`) });
  } else if (gitDir !== undefined && gitDir !== '') {
    const tar = path.join(tmp, 'porcupine.tar');
    execFileSync('git', ['--git-dir', gitDir, 'archive', '-o', tar, 'HEAD']);
    execFileSync('tar', ['-x', '-f', tar, '-C', tmp]);
    rmSync(tar);
  } else {
    cleanup();
    return 'neither PORCUPINE_DIR (a checkout) nor PORCUPINE_GIT_DIR (a git directory) is set';
  }
  return { dir: tmp, cleanup };
}

interface Porcupine {
  /** One round (the harness warms up first): per set, the time of one pass. */
  round(): Map<string, number>;
  commit: string | undefined;
  go: string;
  cleanup(): void;
}

/** Porcupine's own checker, same logs, same method: the harness compiled once into a test binary, run once per round. */
function preparePorcupine(): Porcupine | string {
  const src = porcupineSource();
  if (typeof src === 'string') return src;
  const env = { ...process.env, GOFLAGS: '-mod=mod', GOPROXY: 'off', GOTOOLCHAIN: 'local', TSRAFT_EXPECTED: EXPECTED, TSRAFT_ROUNDS: '1' };
  cpSync(path.join(ROOT, 'bench/porcupine_timing_test.go'), path.join(src.dir, 'tsraft_timing_test.go'));
  const build = spawnSync('go', ['test', '-c', '-o', 'porcupine.test', '.'], { cwd: src.dir, env, encoding: 'utf8' });
  if (build.status !== 0) {
    src.cleanup();
    return `go test -c failed (exit ${build.status}): ${build.stderr}`;
  }
  const gitDir = process.env['PORCUPINE_GIT_DIR'];
  return {
    commit: gitDir ? execFileSync('git', ['--git-dir', gitDir, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim() : undefined,
    go: spawnSync('go', ['version'], { encoding: 'utf8' }).stdout.trim(),
    cleanup: src.cleanup,
    round() {
      const run = spawnSync(path.join(src.dir, 'porcupine.test'), ['-test.run', '^TestTsraftCheckerTiming$', '-test.count', '1', '-test.v'], { cwd: src.dir, env, encoding: 'utf8', maxBuffer: 64 << 20 });
      if (run.status !== 0) throw new Error(`porcupine's timing run failed (exit ${run.status}):\n${run.stdout}${run.stderr}`);
      const times = new Map<string, number>();
      for (const line of run.stdout.split('\n')) {
        if (!line.startsWith('TSRAFT-TIMING ')) continue;
        const { set, ms } = JSON.parse(line.slice('TSRAFT-TIMING '.length)) as { set: string; ms: number };
        times.set(set, ms);
      }
      if (times.size === 0) throw new Error(`porcupine's timing run printed no timings:\n${run.stdout}`);
      return times;
    },
  };
}

const { cases, parseMs } = loadCases();
const ops = new Map<string, number>();
for (const c of cases) ops.set(c.set, (ops.get(c.set) ?? 0) + c.history.length);
console.log(`parsed ${cases.length} histories (${[...ops.values()].reduce((a, b) => a + b, 0)} operations) in ${parseMs.toFixed(0)} ms; ${ROUNDS} timed rounds after one warm-up`);
const porc = preparePorcupine();
if (typeof porc === 'string') console.log(`porcupine not measured: ${porc}`);
const reps = new Map<string, number>();
roundOurs(cases, reps, true);
// Rounds alternate, ours then porcupine's, so both see the same machine load.
const ours = new Map<string, number[]>();
const theirs = new Map<string, number[]>();
const record = (into: Map<string, number[]>, round: Map<string, number>): void => {
  for (const [set, ms] of round) into.set(set, [...(into.get(set) ?? []), ms]);
};
try {
  for (let round = 0; round < ROUNDS; round++) {
    record(ours, roundOurs(cases, reps, false));
    if (typeof porc !== 'string') record(theirs, porc.round());
  }
} finally {
  if (typeof porc !== 'string') porc.cleanup();
}

const rows = [...ours.keys()].map((set) => {
  const t = median(ours.get(set)!);
  const p = theirs.get(set);
  const pm = p === undefined ? undefined : median(p);
  return {
    set,
    histories: cases.filter((c) => c.set === set).length,
    operations: ops.get(set)!,
    oursMs: t,
    porcupineMs: pm,
    ratio: pm === undefined ? undefined : t / pm,
    oursBestMs: Math.min(...ours.get(set)!),
    porcupineBestMs: p === undefined ? undefined : Math.min(...p),
    oursRoundsMs: ours.get(set)!,
    porcupineRoundsMs: p,
  };
});
const fmt = (ms: number | undefined): string => (ms === undefined ? '-' : ms < 10 ? ms.toFixed(2) : ms.toFixed(0));
console.log('\nmedian (best) of the rounds, ms per pass over the set');
console.log('set       histories    ops          tsraft        porcupine  tsraft/porcupine');
for (const r of rows) {
  const cell = (m: number | undefined, b: number | undefined): string => `${fmt(m)} (${fmt(b)})`.padStart(16);
  console.log(`${r.set.padEnd(9)} ${String(r.histories).padStart(9)} ${String(r.operations).padStart(6)} ${cell(r.oursMs, r.oursBestMs)} ${cell(r.porcupineMs, r.porcupineBestMs)} ${r.ratio === undefined ? '-'.padStart(17) : r.ratio.toFixed(2).padStart(17)}`);
}
console.log('every verdict matched the expected one');
mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
const file = path.join(ROOT, 'bench/results/checker.json');
writeFileSync(
  file,
  JSON.stringify(
    {
      bench: 'checker',
      date: new Date().toISOString(),
      node: process.version,
      cpu: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
      rounds: ROUNDS,
      porcupine: typeof porc === 'string' ? { skipped: porc } : { commit: porc.commit, go: porc.go },
      rows,
    },
    null,
    2,
  ) + '\n',
);
console.log(`results written to ${path.relative(ROOT, file)}`);
