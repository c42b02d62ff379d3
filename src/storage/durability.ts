import type { SnapshotMeta } from '../core/types.js';
import { applyUpdate } from './apply-update.js';
import type { StorageState, StorageUpdate } from './types.js';

/**
 * The states a crash may leave storage in: everything up to the last write
 * acknowledged as durable (`sync`), then any prefix of the parts (snapshot,
 * entries, hard state, in that order) of the writes after it: acknowledged
 * writes that did not ask for an fsync, and those in flight.
 */
export function possibleStates(durable: StorageState, maybe: readonly StorageUpdate[]): StorageState[] {
  const out = [durable];
  let cur = durable;
  for (const u of maybe) {
    let partial: StorageUpdate = { sync: u.sync };
    for (const part of ['snapshot', 'entries', 'hardState'] as const) {
      if (u[part] === undefined || (part === 'entries' && u.entries!.length === 0)) continue;
      partial = { ...partial, [part]: u[part] };
      out.push(applyUpdate(cur, partial));
    }
    cur = applyUpdate(cur, u);
  }
  return out;
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
    for (const w of this.maybe.splice(0, i + 1)) this.durable = applyUpdate(this.durable, w);
  }

  /** Whether a recovered state is one the crash may have left. */
  allows(recovered: StorageState): boolean {
    const k = stateKey(recovered);
    return possibleStates(this.durable, this.maybe).some((s) => stateKey(s) === k);
  }

  /** After a successful recovery, that state is the new durable baseline. */
  reset(recovered: StorageState): void {
    this.durable = recovered;
    this.maybe = [];
    this.pending.clear();
  }

  get durableState(): StorageState {
    return this.durable;
  }
}
