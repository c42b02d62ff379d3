/**
 * Fuzzing WAL recovery end to end: FileStorage writes a random history of
 * updates (small segments, so many rotations, and snapshots), then its files
 * are damaged (bit flips, torn tails, junk, cut or grown files) and it is
 * opened again. Recovery must either give back exactly what was written
 * (the last update may be missing only when the damage hit the last record of
 * the last segment: a torn tail; a compaction may be missing, as it is
 * recorded after the write that carries it), or throw WalCorruptionError /
 * StorageRecoveryError naming the file; never another exception, never
 * entries that were not written, and quickly. Runs on the simulator's
 * in-memory disk (the same FileSystem interface as the real one) for speed.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { EntryType, type ConfState, type Entry, type Snapshot } from '../../src/core/types.js';
import { SimDisk } from '../../src/sim/disk.js';
import { applyUpdate } from '../../src/storage/apply-update.js';
import { isCompaction, possibleStates } from '../../src/storage/durability.js';
import { FileStorage, StorageRecoveryError } from '../../src/storage/file-storage.js';
import { EMPTY_STATE, type StorageState, type StorageUpdate } from '../../src/storage/types.js';
import { WalCorruptionError } from '../../src/storage/wal/record.js';
import { SeededRandom } from '../../src/util/random.js';
import { view } from '../storage/helpers.js';
import { checkAsyncProperty } from '../util/property.js';
import { InputClock, fuzz } from './fuzz.js';

const DIR = '/data';
const SEGMENT_BYTES = 600;

interface OpSeed {
  readonly kind: number;
  readonly a: number;
  readonly b: number;
  readonly data: Uint8Array;
}

const opArb: fc.Arbitrary<OpSeed> = fc.record({ kind: fc.nat(9), a: fc.nat(), b: fc.nat(), data: fc.uint8Array({ maxLength: 120 }) });

const CONF: ConfState = { voters: [1, 2, 3], outgoing: [], learners: [4], context: { '4': 'n4' } };

/**
 * Turns random seeds into updates a Raft node could write, each of a single
 * kind (entries, hard state or snapshot: one WAL record each), and the state
 * after each: states[k] is the state after the first k updates.
 */
function history(seeds: readonly OpSeed[]): { updates: StorageUpdate[]; states: StorageState[] } {
  const updates: StorageUpdate[] = [];
  const states: StorageState[] = [EMPTY_STATE];
  let maxTerm = 1;
  for (const s of seeds) {
    const st = states[states.length - 1]!;
    const base = st.snapshot?.meta.index ?? 0;
    const last = base + st.entries.length;
    const commit = st.hardState.commit;
    const floor = Math.max(commit, base);
    let u: StorageUpdate;
    if (s.kind <= 4) {
      // Append after the end, or overwrite an uncommitted suffix with a later term.
      const overwrite = s.b % 3 === 0 && last > floor;
      const first = overwrite ? floor + 1 + (s.b % (last - floor)) : last + 1;
      if (overwrite) maxTerm++;
      const n = 1 + (s.a % 4);
      const entries: Entry[] = Array.from({ length: n }, (_, i) => ({
        index: first + i,
        term: maxTerm,
        type: i === 0 && s.a % 7 === 0 ? EntryType.Noop : EntryType.Normal,
        data: s.data.subarray(0, (s.a + i * 13) % (s.data.length + 1)),
      }));
      u = { entries, sync: true };
    } else if (s.kind <= 7 || commit <= base) {
      if (s.a % 5 === 0) maxTerm++;
      u = { hardState: { term: maxTerm, vote: s.a % 3 === 0 ? null : s.a % 5, commit: commit + (s.b % (last - commit + 1)) }, sync: true };
    } else {
      const index = base + 1 + (s.a % (commit - base));
      const term = st.entries[index - base - 1]!.term;
      u = { snapshot: { meta: s.b % 2 === 0 ? { index, term } : { index, term, conf: CONF }, data: s.data }, sync: true };
    }
    updates.push(u);
    states.push(applyUpdate(st, u));
  }
  return { updates, states };
}

type Damage =
  | { readonly kind: 'flip'; readonly file: number; readonly at: number; readonly mask: number }
  | { readonly kind: 'torn'; readonly keep: number }
  | { readonly kind: 'junk'; readonly file: number; readonly seed: number }
  | { readonly kind: 'cut'; readonly file: number; readonly at: number }
  | { readonly kind: 'grow'; readonly file: number; readonly bytes: Uint8Array };

const damageArb: fc.Arbitrary<Damage> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), file: fc.nat(), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('torn' as const), keep: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('junk' as const), file: fc.nat(), seed: fc.integer() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cut' as const), file: fc.nat(), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('grow' as const), file: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 50 }) }) },
);

/** Overwrites `bytes` at `at` in `file`, durably. */
async function overwrite(disk: SimDisk, file: string, at: number, bytes: Uint8Array): Promise<void> {
  const h = await disk.mount().openWrite(file);
  await h.write(bytes, at);
  await h.sync();
  await h.close();
}

/**
 * A real torn write: the last update is written without its fsync and the
 * disk loses power, keeping `keep` (modulo) of its unsynced bytes. A snapshot
 * is always synced, so after one a repeat of the hard state plays the last,
 * unsynced update (its state is the same).
 */
async function writeTorn(disk: SimDisk, s: FileStorage, updates: StorageUpdate[], states: StorageState[], keep: number): Promise<void> {
  if (updates[updates.length - 1]!.snapshot !== undefined) {
    updates.push({ hardState: states[states.length - 1]!.hardState, sync: false });
    states.push(states[states.length - 1]!);
  }
  for (const u of updates.slice(0, -1)) await s.write(u);
  // A compaction is recorded off the write path (FileStorage): let it land, so the states to expect are the compacted ones.
  await s.flushSnapshots();
  await s.write({ ...updates[updates.length - 1]!, sync: false });
  disk.keepUnsynced = (_file, unsynced) => keep % (unsynced + 1);
  disk.crash();
}

/**
 * Damages the files; returns the states recovery may come back with (indexes
 * into the history), and whether it must succeed (a torn tail is a crash's
 * ordinary leftover, never a reason to refuse to start).
 */
async function damage(disk: SimDisk, d: Exclude<Damage, { kind: 'torn' }>, n: number): Promise<{ allowed: number[]; mustRecover: boolean; file: string }> {
  const files = disk.files().filter((f) => f.endsWith('.wal') || f.endsWith('.snap'));
  const segments = files.filter((f) => f.endsWith('.wal'));
  const lastSegment = segments[segments.length - 1]!;
  const fs = disk.mount();
  const file = files[d.file % files.length]!;
  const size = disk.fileSize(file)!;
  const inLastSegment = file === lastSegment;
  switch (d.kind) {
    case 'flip':
      disk.flipByte(file, d.at % size, d.mask);
      break;
    case 'junk': {
      const junk = new Uint8Array(size);
      for (let i = 0, x = d.seed; i < size; i++) junk[i] = (x = (Math.imul(x, 1103515245) + 12345) | 0) >>> 24;
      await overwrite(disk, file, 0, junk);
      break;
    }
    case 'cut':
      await fs.truncate(file, d.at % size);
      break;
    case 'grow':
      await overwrite(disk, file, size, d.bytes);
      break;
  }
  return { allowed: inLastSegment ? [n - 1, n] : [n], mustRecover: false, file };
}

test('fuzz wal-recovery: damaged WAL and snapshot files recover to what was written (at most a torn tail lost) or fail with a typed error naming the file', async (t) => {
  const clock = new InputClock(3000);
  const outcomes = { exact: 0, tornDropped: 0, refused: 0 };
  await fuzz(t, 'wal-recovery', () =>
    checkAsyncProperty(
      import.meta.url,
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 14 }), damageArb, async (seeds, d) => {
        const { updates, states } = history(seeds);
        const n = updates.length;
        const disk = new SimDisk({ random: new SeededRandom(1), tornWriteProbability: 0 });
        const s = await FileStorage.open(DIR, { fs: disk.mount(), segmentBytes: SEGMENT_BYTES });
        let damaged: { allowed: number[]; mustRecover: boolean; file: string };
        if (d.kind === 'torn') {
          await writeTorn(disk, s, updates, states, d.keep);
          damaged = { allowed: [updates.length - 1, updates.length], mustRecover: true, file: 'the last segment' };
        } else {
          for (const u of updates) await s.write(u);
          await s.close();
          damaged = await damage(disk, d, n);
        }
        const { allowed, mustRecover, file } = damaged;
        const reopened = await clock.timeAsync(`recovery after ${d.kind}`, () =>
          FileStorage.open(DIR, { fs: disk.mount(), segmentBytes: SEGMENT_BYTES }).then(
            (st) => st,
            (e: unknown) => e,
          ),
        );
        if (!(reopened instanceof FileStorage)) {
          assert.ok(!mustRecover, `a torn tail must be repaired, not refused: ${String(reopened)}`);
          if (reopened instanceof WalCorruptionError) {
            assert.ok(reopened.file.startsWith(DIR + path.sep), `the error names a file of the data directory: ${reopened.file}`);
            assert.ok(reopened.offset >= 0 && reopened.offset <= (disk.fileSize(reopened.file) ?? 0), `offset ${reopened.offset} lies in ${reopened.file}`);
          } else {
            assert.ok(reopened instanceof StorageRecoveryError, `only WalCorruptionError or StorageRecoveryError may come out of recovery, got ${String(reopened)}`);
            assert.ok(reopened.message.includes(DIR), `the error names where: ${reopened.message}`);
          }
          outcomes.refused++;
          return;
        }
        const got = view(await reopened.load());
        await reopened.close();
        const k = allowed.find((i) => i >= 0 && afterUpdates(updates, i).some((c) => assertEqualOrNot(got, view(c))));
        assert.ok(k !== undefined, `after ${JSON.stringify(d)} on ${file}, recovery returned a state that is none of the written states ${allowed.join(' or ')}: ${JSON.stringify(got)}`);
        if (k === updates.length) outcomes.exact++;
        else outcomes.tornDropped++;
        // The repair is durable: a second start finds the same state.
        const again = await FileStorage.open(DIR, { fs: disk.mount(), segmentBytes: SEGMENT_BYTES });
        assert.deepEqual(view(await again.load()), got, 'a second recovery agrees with the first');
        await again.close();
      }),
      { numRuns: 2000 },
    ),
  );
  t.diagnostic(`fuzz wal-recovery: ${outcomes.exact} recovered everything, ${outcomes.tornDropped} dropped a torn last record, ${outcomes.refused} refused with a typed error; slowest ${clock.slowest.toFixed(0)} ms`);
});

/**
 * The states storage may recover after the first `n` updates: compactions are
 * recorded after the writes that carry them (FileStorage writes their files off
 * the WAL path), so the last one recorded may be any of them, or none.
 */
function afterUpdates(updates: readonly StorageUpdate[], n: number): StorageState[] {
  let cur: StorageState = EMPTY_STATE;
  const compactions: Snapshot[] = [];
  for (const u of updates.slice(0, n)) {
    if (u.snapshot !== undefined && isCompaction(cur, u.snapshot.meta)) {
      compactions.push(u.snapshot);
      cur = applyUpdate(cur, { ...u, snapshot: undefined });
    } else {
      cur = applyUpdate(cur, u);
    }
  }
  return possibleStates(cur, [], compactions);
}

function assertEqualOrNot(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}
