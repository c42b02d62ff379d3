/**
 * `npm run bench:snapshot`: what a snapshot of the KV store costs the event
 * loop. A KvStateMachine is filled with N keys of 256-byte values (N =
 * 100,000 and 1,000,000 by default; BENCH_KEYS=a,b to change), then
 * snapshotted two ways, alternating, 3 rounds:
 *   - whole: `snapshot()` in one call: the event loop is blocked for all of it
 *     (what every snapshot did before the incremental path);
 *   - pieces: `snapshotIncrementally()`, one piece per call as the replica
 *     drives it, a turn of the event loop between pieces: the event loop is
 *     blocked for the longest piece only.
 * Also: the time to restore each snapshot (a follower installing it), in one
 * call and in pieces as the replica drives `restoreIncrementally()` (the longest
 * piece is what blocks a follower's event loop).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { KvStateMachine } from '../src/kv/state-machine.js';
import { encodeCommand } from '../src/kv/commands.js';

const KEYS = (process.env['BENCH_KEYS'] ?? '100000,1000000').split(',').map(Number);
const ROUNDS = 3;
/** A turn of the event loop between pieces, as the replica takes (the collector's incremental marking runs there). */
const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));
/** Calls `piece` until it returns true, a turn of the event loop between calls; times each call. */
async function inPieces(piece: () => boolean): Promise<{ longest: number; total: number; count: number }> {
  let longest = 0;
  let total = 0;
  let count = 0;
  for (let done = false; !done; ) {
    const t = performance.now();
    done = piece();
    const d = performance.now() - t;
    longest = Math.max(longest, d);
    total += d;
    count++;
    await turn();
  }
  return { longest, total, count };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function filled(n: number): KvStateMachine {
  const sm = new KvStateMachine();
  const value = 'v'.repeat(256);
  for (let i = 1; i <= n; i++) sm.apply(encodeCommand({ op: 'put', key: `key-${i.toString().padStart(8, '0')}`, value, time: 0 }), { index: i, term: 1 });
  return sm;
}

const rows: Record<string, number | string>[] = [];
console.log('bench:snapshot: the event loop blocked by one KvStateMachine snapshot, whole vs in pieces (256-byte values)');
for (const n of KEYS) {
  const sm = filled(n);
  const whole: number[] = [];
  const longestPiece: number[] = [];
  const pieceTotal: number[] = [];
  const pieces: number[] = [];
  const restore: number[] = [];
  const restoreLongest: number[] = [];
  const restorePieces: number[] = [];
  let bytes = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let t = performance.now();
    const data = sm.snapshot();
    whole.push(performance.now() - t);
    bytes = data.length;
    const next = sm.snapshotIncrementally();
    const written = await inPieces(() => next() !== null);
    longestPiece.push(written.longest);
    pieceTotal.push(written.total);
    pieces.push(written.count);
    t = performance.now();
    new KvStateMachine().restore(data, { index: n, term: 1 });
    restore.push(performance.now() - t);
    const restored = await inPieces(new KvStateMachine().restoreIncrementally(data, { index: n, term: 1 }));
    restoreLongest.push(restored.longest);
    restorePieces.push(restored.count);
  }
  const row = {
    keys: n,
    snapshotMiB: +(bytes / 2 ** 20).toFixed(1),
    wholeMs: +median(whole).toFixed(1),
    longestPieceMs: +median(longestPiece).toFixed(2),
    piecesTotalMs: +median(pieceTotal).toFixed(1),
    pieces: median(pieces),
    restoreMs: +median(restore).toFixed(1),
    restorePieces: median(restorePieces),
    restoreLongestPieceMs: +median(restoreLongest).toFixed(2),
  };
  rows.push(row);
  console.log(
    `${n.toLocaleString('en-US')} keys (${row.snapshotMiB} MiB): whole ${row.wholeMs} ms blocked; in ${row.pieces} pieces ${row.piecesTotalMs} ms of work, longest piece ${row.longestPieceMs} ms; restore ${row.restoreMs} ms, or ${row.restorePieces} pieces with the longest ${row.restoreLongestPieceMs} ms`,
  );
}
mkdirSync('bench/results', { recursive: true });
const file = 'bench/results/snapshot.json';
writeFileSync(file, JSON.stringify({ bench: 'snapshot', date: new Date().toISOString(), node: process.version, rounds: ROUNDS, rows }, null, 2) + '\n');
console.log(`results written to ${file}`);
