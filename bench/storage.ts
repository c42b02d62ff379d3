/**
 * `npm run bench:storage`: FileStorage on this machine's disk.
 *  - the raw fsync rate of the disk (append 256 bytes + fdatasync, in a loop): the physical limit;
 *  - fsynced appends per second and write latency p50/p99 for batches of 1, 16 and 256 entries
 *    of 256 bytes, one write outstanding at a time;
 *  - the same with 64 writers at once (group commit: concurrent writes share an fsync);
 *  - recovery time of a 1 GiB log.
 * BENCH_SECONDS sets the time per figure (default 3), BENCH_RECOVERY_MB the log size (default 1024).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EntryType, type Entry } from '../src/core/types.js';
import { FileStorage } from '../src/storage/file-storage.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 3);
const RECOVERY_MB = Number(process.env['BENCH_RECOVERY_MB'] ?? 1024);
const PAYLOAD = new Uint8Array(256).fill(0x61);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Latency {
  p50: number;
  p99: number;
}

function latency(samples: number[]): Latency {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99) };
}

async function rawFsync(dir: string): Promise<{ perSec: number } & Latency> {
  const fh = await open(path.join(dir, 'raw.bin'), 'w');
  const samples: number[] = [];
  const deadline = performance.now() + SECONDS * 1000;
  while (performance.now() < deadline) {
    const t = performance.now();
    await fh.write(PAYLOAD);
    await fh.datasync();
    samples.push(performance.now() - t);
  }
  await fh.close();
  const total = samples.reduce((a, b) => a + b, 0) / 1000;
  return { perSec: samples.length / total, ...latency(samples) };
}

function makeEntries(first: number, n: number, payload = PAYLOAD): Entry[] {
  return Array.from({ length: n }, (_, i) => ({ index: first + i, term: 1, type: EntryType.Normal, data: payload }));
}

async function appends(dir: string, batch: number): Promise<{ batch: number; entriesPerSec: number; writesPerSec: number } & Latency> {
  const s = await FileStorage.open(dir);
  let next = 1;
  const samples: number[] = [];
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  while (performance.now() < deadline) {
    const t = performance.now();
    await s.write({ entries: makeEntries(next, batch), sync: true });
    samples.push(performance.now() - t);
    next += batch;
  }
  const secs = (performance.now() - t0) / 1000;
  await s.close();
  return { batch, entriesPerSec: (next - 1) / secs, writesPerSec: samples.length / secs, ...latency(samples) };
}

async function groupCommit(dir: string, writers: number): Promise<{ writers: number; entriesPerSec: number; entriesPerFsync: number } & Latency> {
  const s = await FileStorage.open(dir);
  let next = 1;
  const samples: number[] = [];
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  const syncs0 = s.stats.walSyncs;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        const index = next++;
        await s.write({ entries: makeEntries(index, 1), sync: true });
        samples.push(performance.now() - t);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const syncs = s.stats.walSyncs - syncs0;
  await s.close();
  return { writers, entriesPerSec: samples.length / secs, entriesPerFsync: samples.length / syncs, ...latency(samples) };
}

async function recovery(dir: string): Promise<{ logBytes: number; entries: number; seconds: number; entriesPerSec: number }> {
  const entrySize = 1024;
  const payload = new Uint8Array(entrySize).fill(0x62);
  const perWrite = 1024;
  const total = Math.floor((RECOVERY_MB * 1024 * 1024) / (entrySize + 13));
  const s = await FileStorage.open(dir);
  for (let i = 1; i <= total; i += perWrite) {
    const n = Math.min(perWrite, total - i + 1);
    await s.write({ entries: makeEntries(i, n, payload), hardState: { term: 1, vote: 0, commit: i - 1 }, sync: i + n > total });
  }
  const logBytes = s.stats.bytesWritten;
  await s.close();
  const t0 = performance.now();
  const r = await FileStorage.open(dir);
  const state = await r.load();
  const seconds = (performance.now() - t0) / 1000;
  if (state.entries.length !== total) throw new Error(`recovered ${state.entries.length} entries, wrote ${total}`);
  await r.close();
  return { logBytes, entries: total, seconds, entriesPerSec: total / seconds };
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(process.env['BENCH_DIR'] ?? tmpdir(), 'tsraft-bench-'));
  try {
    console.log(`bench:storage in ${root}, ${SECONDS} s per figure, 256-byte entries`);
    const raw = await rawFsync(root);
    console.log(`raw disk: write+fdatasync ${fmt(raw.perSec)}/s, p50 ${fmt(raw.p50, 3)} ms, p99 ${fmt(raw.p99, 3)} ms`);
    const batches = [];
    for (const batch of [1, 16, 256]) {
      const d = path.join(root, `batch${batch}`);
      mkdirSync(d);
      const r = await appends(d, batch);
      batches.push(r);
      console.log(
        `FileStorage batch ${String(batch).padStart(3)}: ${fmt(r.entriesPerSec).padStart(9)} entries/s, ${fmt(r.writesPerSec).padStart(6)} fsynced writes/s (${fmt((100 * r.writesPerSec) / raw.perSec)}% of raw), p50 ${fmt(r.p50, 3)} ms, p99 ${fmt(r.p99, 3)} ms`,
      );
    }
    const gd = path.join(root, 'group');
    mkdirSync(gd);
    const group = await groupCommit(gd, 64);
    console.log(`FileStorage 64 concurrent writers of 1 entry: ${fmt(group.entriesPerSec)} entries/s, ${fmt(group.entriesPerFsync, 1)} entries per fsync, p50 ${fmt(group.p50, 3)} ms, p99 ${fmt(group.p99, 3)} ms`);
    const rd = path.join(root, 'recovery');
    mkdirSync(rd);
    const rec = await recovery(rd);
    console.log(`recovery of a ${fmt(rec.logBytes / (1 << 20))} MiB log (${fmt(rec.entries)} entries of 1 KiB): ${fmt(rec.seconds, 2)} s (${fmt(rec.entriesPerSec)} entries/s)`);
    mkdirSync('bench/results', { recursive: true });
    const file = 'bench/results/storage.json';
    writeFileSync(file, JSON.stringify({ bench: 'storage', date: new Date().toISOString(), node: process.version, seconds: SECONDS, raw, batches, group, recovery: rec }, null, 2) + '\n');
    console.log(`results written to ${file}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
