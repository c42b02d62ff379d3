import { EntryType, type Entry, type HardState, type Snapshot } from '../../src/core/types.js';
import type { StorageState } from '../../src/storage/types.js';

export function ent(index: number, term: number, text = `e${index}t${term}`): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(text) };
}

export function ents(first: number, last: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = first; i <= last; i++) out.push(ent(i, term));
  return out;
}

export function hs(term: number, vote: number | null, commit: number): HardState {
  return { term, vote, commit };
}

export function snap(index: number, term: number, text = `snap${index}`): Snapshot {
  return { meta: { index, term }, data: new TextEncoder().encode(text) };
}

/** A comparable rendering of a storage state. */
export function view(s: StorageState): unknown {
  return {
    hardState: s.hardState,
    snapshot: s.snapshot === null ? null : { ...s.snapshot.meta, data: Buffer.from(s.snapshot.data).toString('hex') },
    entries: s.entries.map((e) => [e.index, e.term, e.type, Buffer.from(e.data).toString('hex')]),
  };
}
