import { EntryType, type ConfState, type Entry, type Snapshot } from '../../src/core/types.js';
import type { StorageState, StorageUpdate } from '../../src/storage/types.js';
import type { Random } from '../../src/util/random.js';
import { hs, snap } from './helpers.js';

export function lastIndex(s: StorageState): number {
  return (s.snapshot?.meta.index ?? 0) + s.entries.length;
}

function termAt(s: StorageState, i: number): number | undefined {
  const base = s.snapshot?.meta.index ?? 0;
  if (i === base) return s.snapshot?.meta.term ?? 0;
  return s.entries[i - base - 1]?.term;
}

/** Sometimes a snapshot carries the configuration in force (membership changes), sometimes not (older data). */
function withConf(r: Random, s: Snapshot): Snapshot {
  if (r.int(2) === 0) return s;
  const ids = (): number[] => Array.from({ length: r.int(4) }, () => r.int(9));
  const conf: ConfState = { voters: ids(), outgoing: ids(), learners: ids(), context: Object.fromEntries(ids().map((id) => [String(id), `n${id}:${r.int(1000)}`])) };
  return { meta: { ...s.meta, conf }, data: s.data };
}

/** A random update of the kind a Raft node's Ready produces, given what storage holds. */
export function genUpdate(r: Random, m: StorageState): StorageUpdate {
  const last = lastIndex(m);
  const base = m.snapshot?.meta.index ?? 0;
  const { term, vote, commit } = m.hardState;
  const data = (): Uint8Array => {
    const b = new Uint8Array(r.int(64));
    for (let i = 0; i < b.length; i++) b[i] = r.int(256);
    return b;
  };
  const mkEntries = (from: number, t: number): Entry[] =>
    Array.from({ length: 1 + r.int(6) }, (_, k): Entry => {
      const x = r.int(20);
      return { index: from + k, term: t, type: x === 0 ? EntryType.Noop : x === 1 ? EntryType.ConfChange : EntryType.Normal, data: data() };
    });
  const x = r.int(100);
  if (x < 40 || term === 0) {
    const t = Math.max(term, 1);
    return { entries: mkEntries(last + 1, t), hardState: term === 0 ? hs(1, null, commit) : r.int(3) === 0 ? hs(t, vote, Math.min(last, commit + r.int(3))) : undefined, sync: true };
  }
  if (x < 50 && last > commit) {
    // A new leader overwrites the uncommitted suffix.
    const from = Math.max(commit, base) + 1 + r.int(last - Math.max(commit, base));
    return { entries: mkEntries(from, term + 1), hardState: hs(term + 1, r.int(2) === 0 ? null : r.int(5), commit), sync: true };
  }
  if (x < 65) {
    // A new term clears the vote; within a term a vote, once cast, never changes.
    const t = term + r.int(2);
    const v = t > term ? (r.int(3) === 0 ? null : r.int(5)) : (vote ?? r.int(5));
    return { hardState: hs(t, v, commit + r.int(last - commit + 1)), sync: true };
  }
  if (x < 80) return { hardState: hs(term, vote, commit + r.int(last - commit + 1)), sync: false };
  if (x < 92 && commit > base) {
    const idx = base + 1 + r.int(commit - base);
    return { snapshot: withConf(r, snap(idx, termAt(m, idx)!, `s${idx}-${r.int(1000)}`)), sync: true };
  }
  // A snapshot from the leader, beyond our commit index.
  const idx = commit + 1 + r.int(12);
  return { snapshot: withConf(r, snap(idx, term + 1, `install${idx}`)), hardState: hs(term + 1, null, idx), sync: true };
}

