/**
 * A reference Raft for the 6.824 lab (parts 2A-2D), in the structure the
 * lab's advice describes: one object with shared state (Figure 2's fields),
 * an election ticker loop, a heartbeat loop for the leader, one applier
 * woken by a signal, and one async task per RPC. Run the lab's 28 tests on
 * it with
 *
 *   npm run lab -- --impl dist/examples/lab-raft/raft.js --grep 2
 *
 * THE LOCKING RULES, TRANSLATED TO `await`
 *
 * Go's Raft holds `rf.mu` while it reads and changes shared state. In
 * JavaScript only one piece of code runs at a time, and it runs until it
 * reaches an `await`: the code between two awaits is the critical section,
 * as if the lock were held all along. So:
 *
 *  1. Make each sequence of changes that must look atomic (new term + new
 *     role + persist) without an `await` in the middle (rules 1-3).
 *  2. An `await` is where Go code would unlock: sleeping, sending on the
 *     apply channel, waiting for an RPC reply. Anything may have happened
 *     meanwhile (rule 4: never wait while holding the lock).
 *  3. After EVERY `await`, check again everything the next step assumes:
 *     are we killed, is currentTerm still the term we started with, are we
 *     still leader or candidate (rule 5). Marked "RULE 5" below.
 */
import { now, randomInt, sleep, type ApplyMsg, type Channel, type ClientEnd, type Persister, type RaftInstance } from 'tsraft/lab';
import { parseBugs, type BugName } from './bugs.js';

export { BUGS, type BugName } from './bugs.js';

/** The leader sends heartbeats this often: the lab allows at most ten a second. */
const HEARTBEAT_MS = 100;
/** A follower that heard nothing for a random time in [min, max) ms stands for election. */
const ELECTION_TIMEOUT_MIN_MS = 300;
const ELECTION_TIMEOUT_MAX_MS = 600;
/** How often the election ticker wakes to look at the clock. */
const TICK_MS = 10;

type Role = 'follower' | 'candidate' | 'leader';

/** One log entry: the command, and the term in which the leader received it. */
export interface LogEntry {
  term: number;
  command: unknown;
}

export interface RequestVoteArgs {
  term: number; // candidate's term
  candidateId: number; // candidate requesting vote
  lastLogIndex: number; // index of candidate's last log entry
  lastLogTerm: number; // term of candidate's last log entry
}

export interface RequestVoteReply {
  term: number; // currentTerm, for candidate to update itself
  voteGranted: boolean; // true means candidate received vote
}

export interface AppendEntriesArgs {
  term: number; // leader's term
  leaderId: number; // so follower can redirect clients
  prevLogIndex: number; // index of log entry immediately preceding new ones
  prevLogTerm: number; // term of prevLogIndex entry
  entries: LogEntry[]; // log entries to store (empty for heartbeat)
  leaderCommit: number; // leader's commitIndex
}

export interface AppendEntriesReply {
  term: number; // currentTerm, for leader to update itself
  success: boolean; // true if follower contained entry matching prevLogIndex and prevLogTerm
  // The fast-backup hint (when success is false):
  xTerm: number; // term of the conflicting entry at prevLogIndex, or -1 if the log is too short
  xIndex: number; // first index the follower holds with term xTerm
  xLen: number; // the follower's log length: its last index + 1
}

export interface InstallSnapshotArgs {
  term: number; // leader's term
  leaderId: number;
  lastIncludedIndex: number; // the snapshot replaces all entries up through and including this index
  lastIncludedTerm: number; // term of lastIncludedIndex
  data: Uint8Array; // the snapshot, as the service made it
}

export interface InstallSnapshotReply {
  term: number; // currentTerm, for leader to update itself
}

/**
 * A condition variable without a lock (Go's sync.Cond): `wait()` resolves at
 * the next `notify()`. A notify nobody waits for is lost, so the waiter
 * checks its condition in a loop before waiting, as with sync.Cond.
 */
class Signal {
  private waiters: (() => void)[] = [];

  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  notify(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}

export class Raft implements RaftInstance {
  // ---- Persistent state on all servers (saved before answering an RPC) ----
  private currentTerm = 0; // latest term this server has seen
  private votedFor = -1; // candidateId that received our vote in currentTerm, or -1
  // The log. log[0] stands for the last entry the snapshot covers (index
  // lastIncludedIndex, term lastIncludedTerm); log[i] has index lastIncludedIndex + i.
  private log: LogEntry[] = [{ term: 0, command: null }];
  private lastIncludedIndex = 0;
  private snapshotData: Uint8Array | null = null;

  // ---- Volatile state on all servers ----
  private commitIndex = 0; // index of highest log entry known to be committed
  private lastApplied = 0; // index of highest log entry sent on applyCh

  // ---- Volatile state on leaders (reinitialized after election) ----
  private nextIndex: number[] = []; // for each server, index of the next log entry to send to it
  private matchIndex: number[] = []; // for each server, index of highest log entry known to be replicated on it

  // ---- Everything else ----
  private role: Role = 'follower';
  private lastHeard = now(); // when we last heard from a leader (or granted a vote)
  private electionTimeout = randomElectionTimeout();
  private dead = false;
  private readonly applyCond = new Signal();
  /** A snapshot from the leader, waiting for the applier to hand it to the service. */
  private pendingSnapshot: { data: Uint8Array; term: number; index: number } | null = null;

  constructor(
    private readonly peers: readonly ClientEnd[],
    private readonly me: number,
    private readonly persister: Persister,
    private readonly applyCh: Channel<ApplyMsg>,
    private readonly bugs: ReadonlySet<BugName>,
  ) {
    this.readPersist();
    // The service (the tester) loads the snapshot itself on restart: resume after it.
    this.commitIndex = this.lastIncludedIndex;
    this.lastApplied = this.lastIncludedIndex;
    void this.ticker();
    void this.applier();
  }

  private bug(name: BugName): boolean {
    return this.bugs.has(name);
  }

  // ---- The log, with indices that survive snapshots ----

  private lastLogIndex(): number {
    return this.lastIncludedIndex + this.log.length - 1;
  }

  private lastLogTerm(): number {
    return this.log[this.log.length - 1]!.term;
  }

  /** The term of the entry at `index` (lastIncludedIndex <= index <= lastLogIndex). */
  private termAt(index: number): number {
    return this.log[index - this.lastIncludedIndex]!.term;
  }

  // ---- Persistence ----

  /**
   * Saves currentTerm, votedFor and the log (with the snapshot's index and
   * term) together with the snapshot. JSON is stable and readable; the lab's
   * commands are numbers and strings, which JSON keeps exactly.
   */
  private persist(): void {
    const votedFor = this.bug('votedfor-not-persisted') ? -1 : this.votedFor;
    const state = [this.currentTerm, votedFor, this.lastIncludedIndex, this.log.map((e) => [e.term, e.command])];
    this.persister.save(new TextEncoder().encode(JSON.stringify(state)), this.snapshotData);
  }

  private readPersist(): void {
    const bytes = this.persister.readRaftState();
    if (bytes.length === 0) return; // first boot
    const [term, votedFor, lastIncludedIndex, log] = JSON.parse(new TextDecoder().decode(bytes)) as [number, number, number, [number, unknown][]];
    this.currentTerm = term;
    this.votedFor = votedFor;
    this.lastIncludedIndex = lastIncludedIndex;
    this.log = log.map(([t, command]) => ({ term: t, command }));
    const snapshot = this.persister.readSnapshot();
    this.snapshotData = snapshot.length > 0 ? snapshot : null;
  }

  // ---- The tester's API ----

  getState(): { term: number; isLeader: boolean } {
    return { term: this.currentTerm, isLeader: this.role === 'leader' };
  }

  /** Appends `command` to the leader's log and starts replicating it. Returns at once. */
  start(command: unknown): { index: number; term: number; isLeader: boolean } {
    if (this.dead || this.role !== 'leader') return { index: -1, term: this.currentTerm, isLeader: false };
    this.log.push({ term: this.currentTerm, command });
    this.persist();
    const index = this.lastLogIndex();
    this.matchIndex[this.me] = index;
    this.broadcastAppendEntries(this.currentTerm); // no need to wait for the next heartbeat
    return { index, term: this.currentTerm, isLeader: true };
  }

  /** The service has a snapshot of everything up to and including `index`: drop those entries. */
  snapshot(index: number, snapshot: Uint8Array): void {
    if (index <= this.lastIncludedIndex || index > this.lastApplied) return; // old, or not ours to take yet
    // log[index - lastIncludedIndex] becomes the new log[0], standing for the snapshot's last entry.
    const cut = index - this.lastIncludedIndex + (this.bug('snapshot-off-by-one') ? 1 : 0);
    this.log = this.log.slice(cut);
    if (this.log.length === 0) this.log = [{ term: this.currentTerm, command: null }];
    this.log[0] = { term: this.log[0]!.term, command: null };
    this.lastIncludedIndex = index;
    this.snapshotData = snapshot;
    this.persist();
  }

  kill(): void {
    this.dead = true;
    this.applyCond.notify(); // let the applier see it
  }

  killed(): boolean {
    return this.dead;
  }

  // ---- Roles ----

  /** A higher term: become a follower of it (Figure 2, "Rules for Servers", all servers). */
  private stepDown(term: number): void {
    this.currentTerm = term;
    this.votedFor = -1;
    this.role = 'follower';
    this.persist();
  }

  private resetElectionTimer(): void {
    this.lastHeard = now();
    this.electionTimeout = randomElectionTimeout();
  }

  // ---- Elections ----

  /** The election ticker: sleeps a little, then looks at how long since it heard from a leader. */
  private async ticker(): Promise<void> {
    while (!this.dead) {
      await sleep(TICK_MS);
      // RULE 5: whatever happened during the sleep, decide from the state as it is now.
      if (this.dead) return;
      if (this.role !== 'leader' && now() - this.lastHeard >= this.electionTimeout) this.startElection();
    }
  }

  private startElection(): void {
    // One critical section: new term, candidate, vote for self, persisted, before any await.
    this.currentTerm++;
    this.role = 'candidate';
    this.votedFor = this.me;
    this.persist();
    this.resetElectionTimer();
    // The arguments are made here, under the "lock": every request carries the term we stood in.
    const args: RequestVoteArgs = { term: this.currentTerm, candidateId: this.me, lastLogIndex: this.lastLogIndex(), lastLogTerm: this.lastLogTerm() };
    const tally = { votes: 1 };
    for (let peer = 0; peer < this.peers.length; peer++) {
      if (peer !== this.me) void this.askForVote(peer, args, tally);
    }
  }

  /** One task per RequestVote: send it, and count the reply if it still matters. */
  private async askForVote(peer: number, args: RequestVoteArgs, tally: { votes: number }): Promise<void> {
    const reply = await this.peers[peer]!.call<RequestVoteReply>('Raft.RequestVote', args);
    // RULE 5: the reply may come much later, in another term, after we won or lost.
    if (reply === null || this.dead) return;
    if (reply.term > this.currentTerm) {
      this.stepDown(reply.term);
      return;
    }
    const stale = this.currentTerm !== args.term || this.role !== 'candidate';
    if (stale && !(this.bug('old-term-replies') && this.role === 'candidate')) return;
    if (!reply.voteGranted) return;
    tally.votes++;
    if (this.role === 'candidate' && tally.votes * 2 > this.peers.length) this.becomeLeader();
  }

  private becomeLeader(): void {
    this.role = 'leader';
    const next = this.lastLogIndex() + 1;
    this.nextIndex = this.peers.map(() => next);
    this.matchIndex = this.peers.map(() => 0);
    this.matchIndex[this.me] = this.lastLogIndex();
    void this.heartbeatLoop(this.currentTerm);
  }

  /** RequestVote RPC handler. */
  RequestVote(args: RequestVoteArgs): RequestVoteReply {
    if (args.term < this.currentTerm) return { term: this.currentTerm, voteGranted: false };
    if (args.term > this.currentTerm) this.stepDown(args.term);
    // Election restriction: only vote for a candidate whose log is at least as up-to-date as ours.
    const upToDate = args.lastLogTerm > this.lastLogTerm() || (args.lastLogTerm === this.lastLogTerm() && args.lastLogIndex >= this.lastLogIndex());
    if ((this.votedFor === -1 || this.votedFor === args.candidateId) && upToDate) {
      this.votedFor = args.candidateId;
      this.persist(); // before the reply leaves
      // Granting a vote resets the timer (Students' Guide): we expect this candidate to lead.
      if (!this.bug('no-timer-reset-on-granted-vote')) this.resetElectionTimer();
      return { term: this.currentTerm, voteGranted: true };
    }
    // Refusing does NOT reset the timer: a candidate with a stale log must not keep us quiet.
    if (this.bug('timer-reset-on-rejected-vote')) this.resetElectionTimer();
    return { term: this.currentTerm, voteGranted: false };
  }

  // ---- Log replication ----

  /** The leader's heartbeat loop for one term: ends when this server is no longer leader of it. */
  private async heartbeatLoop(term: number): Promise<void> {
    const interval = this.bug('fast-heartbeats') ? 20 : HEARTBEAT_MS;
    while (!this.dead && this.role === 'leader' && this.currentTerm === term) {
      this.broadcastAppendEntries(term);
      await sleep(interval);
      // RULE 5: the loop condition re-checks role and term after the sleep.
    }
  }

  private broadcastAppendEntries(term: number): void {
    for (let peer = 0; peer < this.peers.length; peer++) {
      if (peer !== this.me) void this.replicateTo(peer, term);
    }
  }

  /** One task per AppendEntries (or InstallSnapshot) to one follower. */
  private async replicateTo(peer: number, term: number): Promise<void> {
    if (this.nextIndex[peer]! <= this.lastIncludedIndex) {
      // The entries the follower needs are gone into the snapshot.
      await this.sendSnapshot(peer, term);
      return;
    }
    const prevLogIndex = this.nextIndex[peer]! - 1;
    const args: AppendEntriesArgs = {
      term,
      leaderId: this.me,
      prevLogIndex,
      prevLogTerm: this.termAt(prevLogIndex),
      entries: this.log.slice(prevLogIndex + 1 - this.lastIncludedIndex),
      leaderCommit: this.commitIndex,
    };
    const reply = await this.peers[peer]!.call<AppendEntriesReply>('Raft.AppendEntries', args);
    // RULE 5: still alive, still leader, still the same term?
    if (reply === null || this.dead) return;
    if (reply.term > this.currentTerm) {
      this.stepDown(reply.term);
      return;
    }
    if (this.role !== 'leader' || (this.currentTerm !== term && !this.bug('old-term-replies'))) return;
    if (reply.success) {
      // Replies of concurrent requests arrive in any order: never move backwards.
      const match = args.prevLogIndex + args.entries.length;
      if (match > this.matchIndex[peer]!) this.matchIndex[peer] = match;
      if (match + 1 > this.nextIndex[peer]!) this.nextIndex[peer] = match + 1;
      this.advanceCommitIndex();
      return;
    }
    // A rejection only means something if nextIndex is still what this request was built from.
    if (this.nextIndex[peer] !== args.prevLogIndex + 1) return;
    this.nextIndex[peer] = this.backUp(reply);
    // Try again at once while we are backing up (the follower waits for these entries);
    // if the hint did not move us back, wait for the next heartbeat rather than spin.
    if (this.nextIndex[peer]! < args.prevLogIndex + 1) void this.replicateTo(peer, term);
  }

  /** Where to resume replication after a rejection, from the follower's hint (one step per term, not per entry). */
  private backUp(reply: AppendEntriesReply): number {
    if (reply.xTerm === -1) {
      // The follower's log is too short: its next index is xLen.
      return this.bug('backup-past-hint') ? reply.xLen + 1 : reply.xLen;
    }
    // If we have entries of xTerm, the follower may match up to our last one of them.
    for (let i = this.lastLogIndex(); i > this.lastIncludedIndex; i--) {
      if (this.termAt(i) === reply.xTerm) return i + 1;
      if (this.termAt(i) < reply.xTerm) break;
    }
    // We have no entry of xTerm: the follower's whole run of xTerm must go.
    return Math.max(reply.xIndex, 1);
  }

  /** Figure 2: commit N if a majority has it AND log[N] is of the current term (Figure 8). */
  private advanceCommitIndex(): void {
    for (let n = this.lastLogIndex(); n > this.commitIndex; n--) {
      if (n <= this.lastIncludedIndex) break;
      if (this.termAt(n) !== this.currentTerm && !this.bug('figure8-commit-old-term')) break; // older entries commit with it
      const replicas = this.matchIndex.filter((m) => m >= n).length;
      if (replicas * 2 > this.peers.length) {
        this.setCommitIndex(n);
        return;
      }
    }
  }

  private setCommitIndex(index: number): void {
    this.commitIndex = index;
    if (this.bug('apply-twice')) void this.applyUnsynchronized();
    else this.applyCond.notify();
  }

  /** AppendEntries RPC handler. */
  AppendEntries(args: AppendEntriesArgs): AppendEntriesReply {
    const reply = (success: boolean, xTerm = -1, xIndex = -1): AppendEntriesReply => ({ term: this.currentTerm, success, xTerm, xIndex, xLen: this.lastLogIndex() + 1 });
    if (args.term < this.currentTerm) return reply(false); // an old leader: do not reset the timer
    if (args.term > this.currentTerm) this.stepDown(args.term);
    this.role = 'follower'; // a candidate that hears from this term's leader steps down
    this.resetElectionTimer();

    let { prevLogIndex, prevLogTerm, entries } = args;
    if (prevLogIndex < this.lastIncludedIndex) {
      // Part of it is already in our snapshot (committed, so it matches): skip that part.
      const skip = this.lastIncludedIndex - prevLogIndex;
      if (skip >= entries.length) return reply(true);
      entries = entries.slice(skip);
      prevLogIndex = this.lastIncludedIndex;
      prevLogTerm = this.log[0]!.term;
    }
    if (prevLogIndex > this.lastLogIndex()) return reply(false); // too short: xTerm -1, xLen says where we end
    if (this.termAt(prevLogIndex) !== prevLogTerm) {
      const xTerm = this.termAt(prevLogIndex);
      let xIndex = prevLogIndex;
      while (xIndex - 1 > this.lastIncludedIndex && this.termAt(xIndex - 1) === xTerm) xIndex--;
      return reply(false, xTerm, xIndex);
    }

    // Append what is new. Cut our log only at the first entry that CONFLICTS: a delayed,
    // shorter AppendEntries must not erase entries we already acknowledged.
    let changed = false;
    if (this.bug('truncate-on-heartbeat') && prevLogIndex < this.lastLogIndex()) {
      this.log = this.log.slice(0, prevLogIndex + 1 - this.lastIncludedIndex);
      changed = true;
    }
    for (let i = 0; i < entries.length; i++) {
      const index = prevLogIndex + 1 + i;
      if (index <= this.lastLogIndex() && this.termAt(index) === entries[i]!.term) continue;
      if (index <= this.lastLogIndex() && this.bug('no-truncate-conflict')) {
        this.log[index - this.lastIncludedIndex] = entries[i]!; // overwrites, but keeps what follows
        changed = true;
        continue;
      }
      this.log = this.log.slice(0, index - this.lastIncludedIndex).concat(entries.slice(i));
      changed = true;
      break;
    }
    if (changed) this.persist(); // before the reply leaves

    // Commit what the leader committed, but only as far as we know our log matches its.
    const lastNew = prevLogIndex + entries.length;
    if (args.leaderCommit > this.commitIndex) {
      const target = Math.min(args.leaderCommit, lastNew);
      if (target > this.commitIndex) this.setCommitIndex(target);
    }
    return reply(true);
  }

  // ---- Snapshots ----

  private async sendSnapshot(peer: number, term: number): Promise<void> {
    const args: InstallSnapshotArgs = { term, leaderId: this.me, lastIncludedIndex: this.lastIncludedIndex, lastIncludedTerm: this.log[0]!.term, data: this.snapshotData! };
    const reply = await this.peers[peer]!.call<InstallSnapshotReply>('Raft.InstallSnapshot', args);
    // RULE 5.
    if (reply === null || this.dead) return;
    if (reply.term > this.currentTerm) {
      this.stepDown(reply.term);
      return;
    }
    if (this.role !== 'leader' || this.currentTerm !== term) return;
    if (args.lastIncludedIndex > this.matchIndex[peer]!) this.matchIndex[peer] = args.lastIncludedIndex;
    if (args.lastIncludedIndex + 1 > this.nextIndex[peer]!) this.nextIndex[peer] = args.lastIncludedIndex + 1;
  }

  /** InstallSnapshot RPC handler: adopt the leader's snapshot if it is ahead of what we have committed. */
  InstallSnapshot(args: InstallSnapshotArgs): InstallSnapshotReply {
    if (args.term < this.currentTerm) return { term: this.currentTerm };
    if (args.term > this.currentTerm) this.stepDown(args.term);
    this.role = 'follower';
    this.resetElectionTimer();
    if (args.lastIncludedIndex <= this.commitIndex) return { term: this.currentTerm }; // nothing new in it

    const keep = args.lastIncludedIndex <= this.lastLogIndex() && this.termAt(args.lastIncludedIndex) === args.lastIncludedTerm;
    // If our log holds the snapshot's last entry, keep what follows it; else the whole log goes.
    this.log = keep ? this.log.slice(args.lastIncludedIndex - this.lastIncludedIndex) : [];
    this.log[0] = { term: args.lastIncludedTerm, command: null };
    this.lastIncludedIndex = args.lastIncludedIndex;
    this.snapshotData = args.data;
    this.commitIndex = args.lastIncludedIndex;
    this.persist();
    // The applier hands it to the service, in order with the commands it sends.
    this.pendingSnapshot = { data: args.data, term: args.lastIncludedTerm, index: args.lastIncludedIndex };
    this.applyCond.notify();
    return { term: this.currentTerm };
  }

  // ---- Applying ----

  /**
   * The applier: the one task that sends on applyCh, so messages leave in
   * log order. Sending can block (the service is busy, or calls Snapshot()
   * from its receiving loop), so nothing else waits for it.
   */
  private async applier(): Promise<void> {
    while (!this.dead) {
      // Check and wait with no await in between, as with sync.Cond: a notify()
      // between "nothing to do" and wait() would be lost, and we would sleep forever.
      const msg = this.nextApplyMsg();
      if (msg === null) {
        await this.applyCond.wait();
        continue;
      }
      await this.applyCh.send(msg);
      // RULE 5: the loop decides again from the state as it is now (a snapshot may have come in).
    }
  }

  /**
   * The next message due on applyCh, if any. lastApplied moves BEFORE the
   * send, so the service's Snapshot(index), called from inside its receive,
   * sees the entry as applied.
   */
  private nextApplyMsg(): ApplyMsg | null {
    if (this.pendingSnapshot !== null) {
      const s = this.pendingSnapshot;
      this.pendingSnapshot = null;
      this.lastApplied = s.index;
      return { commandValid: false, snapshotValid: true, snapshot: s.data, snapshotTerm: s.term, snapshotIndex: s.index };
    }
    if (this.lastApplied >= this.commitIndex) return null;
    const index = this.lastApplied + 1;
    this.lastApplied = index;
    return { commandValid: true, command: this.log[index - this.lastIncludedIndex]!.command, commandIndex: index, snapshotValid: false };
  }

  /** PLANTED BUG 'apply-twice': an apply task per commit advance, side by side, each moving lastApplied after its send. */
  private async applyUnsynchronized(): Promise<void> {
    while (!this.dead && this.lastApplied < this.commitIndex) {
      const index = this.lastApplied + 1;
      const command = this.log[index - this.lastIncludedIndex]?.command;
      await this.applyCh.send({ commandValid: true, command, commandIndex: index, snapshotValid: false });
      this.lastApplied = index;
    }
  }
}

function randomElectionTimeout(): number {
  return ELECTION_TIMEOUT_MIN_MS + randomInt(ELECTION_TIMEOUT_MAX_MS - ELECTION_TIMEOUT_MIN_MS);
}

/**
 * The lab's Make(peers, me, persister, applyCh). Planted bugs (./bugs.ts)
 * named in the environment variable TSRAFT_LAB_BUGS are switched on.
 */
export function make(peers: readonly ClientEnd[], me: number, persister: Persister, applyCh: Channel<ApplyMsg>): Raft {
  return new Raft(peers, me, persister, applyCh, parseBugs(process.env['TSRAFT_LAB_BUGS']));
}

/** A Make with the given planted bugs switched on (for tests of the tester). */
export function makeWithBugs(names: readonly BugName[]): (peers: readonly ClientEnd[], me: number, persister: Persister, applyCh: Channel<ApplyMsg>) => Raft {
  const bugs = parseBugs(names.join(','));
  return (peers, me, persister, applyCh) => new Raft(peers, me, persister, applyCh, bugs);
}
