/**
 * Planted bugs: classic Raft mistakes (from the Students' Guide to Raft and
 * the lab's structure and locking advice) that can be switched on in the
 * reference Raft, to see which lab test catches each one. A learner can
 * read each `if (this.bug('...'))` in raft.ts next to the correct code.
 *
 * Switch them on with the environment variable `TSRAFT_LAB_BUGS` (a comma
 * separated list of names, read when the tester calls make()), e.g.
 *
 *   TSRAFT_LAB_BUGS=fast-heartbeats npm run lab -- --impl dist/examples/lab-raft/raft.js --grep 2B
 *
 * or in code with `makeWithBugs(['fast-heartbeats'])`.
 */
export const BUGS = {
  'votedfor-not-persisted': 'votedFor is left out of the persisted state: after a crash a server can vote twice in one term',
  'timer-reset-on-rejected-vote': 'the election timer is reset when a vote is refused: a candidate with a stale log keeps everyone else from standing',
  'no-timer-reset-on-granted-vote': 'the election timer is not reset when a vote is granted: the voter may stand against the candidate it just voted for',
  'old-term-replies': 'replies are used without checking that the term is still the one the request was sent in (votes counted, matchIndex advanced)',
  'backup-past-hint': 'with the conflict hint "your log is too short" (XTerm -1), nextIndex is set one past XLen: the follower never catches up',
  'figure8-commit-old-term': 'the leader commits an entry of an earlier term by counting replicas (Figure 8)',
  'no-truncate-conflict': 'a follower overwrites a conflicting entry but keeps the entries after it',
  'truncate-on-heartbeat': 'a follower cuts its log after prevLogIndex even when the entries match: an old, delayed AppendEntries erases acknowledged entries',
  'apply-twice': 'each commitIndex advance starts its own apply task instead of waking the one applier: entries are applied twice or out of order',
  'fast-heartbeats': 'the leader sends heartbeats every 20 ms (50 a second; the lab allows 10)',
  'snapshot-off-by-one': 'Snapshot(index) discards the entry after index too',
} as const;

export type BugName = keyof typeof BUGS;

/** The names in a comma-separated list; throws on a name that is not a planted bug. */
export function parseBugs(list: string | undefined): ReadonlySet<BugName> {
  const names = (list ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const n of names) {
    if (!(n in BUGS)) throw new Error(`TSRAFT_LAB_BUGS: no planted bug named '${n}' (known: ${Object.keys(BUGS).join(', ')})`);
  }
  return new Set(names as BugName[]);
}
