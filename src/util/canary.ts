/**
 * Planted bugs ("canaries"). The simulator turns on one at a time to prove
 * its checks catch that kind of bug; nothing else ever sets one. A component
 * learns of its run's canary through its options (`canary` of RaftNode,
 * Replica, KvStateMachine, FileStorage.open, RaftConfig), and with none set every check is a
 * single comparison that is false.
 */
export const CANARIES = {
  'commit-previous-term': 'a leader commits an entry of an earlier term by counting replicas (Figure 8)',
  'vote-without-persist': 'a vote is granted without being made durable',
  'ack-before-fsync': 'an append is acknowledged before its entries are fsynced',
  'read-without-readindex': 'a "linearizable" read is served from local state, without ReadIndex',
  'no-noop-before-reads': 'a new leader serves reads before committing an entry of its own term',
  'truncate-on-corruption': 'a checksum failure in the middle of the log truncates the log instead of stopping',
  'accept-stale-term': 'messages from a stale term are accepted instead of rejected',
  'double-apply-after-snapshot': 'entries are applied again after a snapshot is installed',
  'forget-sessions-in-snapshot': 'client sessions are left out of snapshots',
  'send-before-durable': "every message of a Ready is sent before the Ready's state is durable",
  'voters-without-joint': 'voters change in one step, without the joint configuration C_old,new',
  'leave-joint-early': 'the joint configuration is left before C_old,new commits',
  'snapshot-drops-config': 'a snapshot does not carry the configuration in force at its index',
  'learner-counts': "a learner's vote and acknowledgement count toward quorums",
  'removed-ack-counts': "a removed voter's acknowledgement still counts toward commitment",
  'transfer-not-up-to-date': 'a leadership transfer target campaigns before it is up to date',
  'watch-skips-event': 'a watch stream that resumes on another node steps over one change (its cursor one revision too far)',
  'torn-txn': "a transaction's compares are judged again before each operation of its branch, so a branch that changes a compared key stops half-way",
  'expiry-by-follower-clock': "each replica expires leases by its own clock (the renewal's time plus the TTL), not by the leader's expiry in the log",
  'lease-outlives-bound': 'a leader lease lasts the longest election timeout, beyond the bound that keeps followers from voting',
} as const;

export type CanaryName = keyof typeof CANARIES;

export function isCanaryName(s: string): s is CanaryName {
  return Object.hasOwn(CANARIES, s);
}
