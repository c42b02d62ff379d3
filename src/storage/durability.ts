import type { Snapshot, SnapshotMeta } from '../core/types.js';
import { applyUpdate } from './apply-update.js';
import type { StorageState, StorageUpdate } from './types.js';

/**
 * Whether storage may record `meta` after the write that carries it: a
 * compaction, which only drops entries that `s` holds (FileStorage writes its
 * file off the WAL path; until then, and after a crash, the log keeps them).
 */
export function isCompaction(s: StorageState, meta: SnapshotMeta): boolean {
  const base = s.snapshot?.meta.index ?? 0;
  return meta.index > base && meta.index <= base + s.entries.length && s.entries[meta.index - base - 1]!.term === meta.term;
}

/** `u` without its snapshot if that is a compaction of `s`, which it then adds to `compactions`. */
function withoutCompaction(s: StorageState, u: StorageUpdate, compactions: Snapshot[]): StorageUpdate {
  if (u.snapshot === undefined || !isCompaction(s, u.snapshot.meta)) return u;
  compactions.push(u.snapshot);
  const { snapshot: _, ...rest } = u;
  return rest;
}

/**
 * The states a crash may leave storage in: everything up to the last write
 * acknowledged as durable (`sync`), then any prefix of the parts (snapshot,
 * entries, hard state, in that order) of the writes after it: acknowledged
 * writes that did not ask for an fsync, and those in flight. Compactions are
 * recorded late, or never if a crash comes first: each of those states may
 * also appear compacted by any compaction issued since `durable` (listed in
 * `compactions`, or among `maybe`) whose last entry it holds.
 */
export function possibleStates(durable: StorageState, maybe: readonly StorageUpdate[], compactions: readonly Snapshot[] = []): StorageState[] {
  const out = [durable];
  const issued = [...compactions];
  let cur = durable;
  for (const full of maybe) {
    const u = withoutCompaction(cur, full, issued);
    let partial: StorageUpdate = { sync: u.sync };
    for (const part of ['snapshot', 'entries', 'hardState'] as const) {
      if (u[part] === undefined || (part === 'entries' && u.entries!.length === 0)) continue;
      partial = { ...partial, [part]: u[part] };
      out.push(applyUpdate(cur, partial));
    }
    cur = applyUpdate(cur, u);
  }
  const compacted = out.flatMap((s) => issued.filter((c) => isCompaction(s, c.meta)).map((c) => applyUpdate(s, { snapshot: c, sync: true })));
  return [...out, ...compacted];
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** A string that two snapshot metas share exactly when their configurations are equal ('-' for none). */
export function confKey(meta: SnapshotMeta): string {
  const c = meta.conf;
  if (c === undefined) return '-';
  const ctx = Object.entries(c.context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([c.voters, c.outgoing, c.learners, ctx]);
}

/** A string that two storage states share exactly when they are equal. */
export function stateKey(s: StorageState): string {
  const hs = s.hardState;
  const snap = s.snapshot === null ? '-' : `${s.snapshot.meta.index}/${s.snapshot.meta.term}/${confKey(s.snapshot.meta)}/${hex(s.snapshot.data)}`;
  return `${hs.term}/${hs.vote}/${hs.commit}|${snap}|${s.entries.map((e) => `${e.index}.${e.term}.${e.type}.${hex(e.data)}`).join(',')}`;
}

/**
 * Tracks, for one storage, which writes are acknowledged as durable, so that
 * after a crash the recovered state can be checked against what was promised.
 */
export class DurabilityModel {
  private durable: StorageState;
  /** Writes after the last durable one: acknowledged without fsync, or not acknowledged yet. */
  private maybe: StorageUpdate[] = [];
  private readonly pending = new Set<StorageUpdate>();
  /** Compactions acknowledged since `durable`: storage may or may not have recorded them yet. */
  private compactions: Snapshot[] = [];

  constructor(initial: StorageState) {
    this.durable = initial;
  }

  /** A write was issued. */
  issued(u: StorageUpdate): void {
    this.maybe.push(u);
    this.pending.add(u);
  }

  /** A write was acknowledged: if it was durable, so is everything issued before it. */
  acknowledged(u: StorageUpdate): void {
    this.pending.delete(u);
    if (!u.sync) return;
    const i = this.maybe.indexOf(u);
    for (const w of this.maybe.splice(0, i + 1)) this.durable = applyUpdate(this.durable, withoutCompaction(this.durable, w, this.compactions));
    // An install past a compaction leaves it nothing to record.
    this.compactions = this.compactions.filter((c) => isCompaction(this.durable, c.meta));
  }

  /** Whether a recovered state is one the crash may have left. */
  allows(recovered: StorageState): boolean {
    const k = stateKey(recovered);
    return possibleStates(this.durable, this.maybe, this.compactions).some((s) => stateKey(s) === k);
  }

  /** After a successful recovery, that state is the new durable baseline. */
  reset(recovered: StorageState): void {
    this.durable = recovered;
    this.maybe = [];
    this.compactions = [];
    this.pending.clear();
  }

  get durableState(): StorageState {
    return this.durable;
  }
}
