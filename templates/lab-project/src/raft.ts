/**
 * Your Raft, for the 6.824 lab's tests (2A-2D), run by tsraft's tester in
 * seeded virtual time: `npm test` (all 28), `npm test -- --grep 2A`.
 *
 * The shape is the lab's: the tester calls `make(peers, me, persister,
 * applyCh)` once per server (again after each crash), then `start`,
 * `getState` and `snapshot` on the object it returns, and delivers RPCs to its
 * methods whose names start with a capital letter (`RequestVote`,
 * `AppendEntries`, `InstallSnapshot`: "Raft.RequestVote" on the wire).
 *
 * Rules of this runtime (see README.md):
 * - Time: `await sleep(ms)` and `now()` from 'tsraft/lab', never setTimeout,
 *   setInterval, Date.now or performance.now: the tests run in virtual time,
 *   and a real timer there fails the test with a message saying so.
 * - Randomness: `random()` / `randomInt(n)` from 'tsraft/lab', never
 *   Math.random: the run then replays exactly from its seed.
 * - Concurrency: JavaScript runs one thing at a time, so there is no lock to
 *   take; but every `await` is a lock released. After any `await` (an RPC
 *   reply, a sleep), re-check `currentTerm` and your role before acting:
 *   the world may have changed while you waited.
 */
import { now, random, sleep, todo, type ApplyMsg, type Channel, type ClientEnd, type Persister } from 'tsraft/lab';

// ---- RPC arguments and replies (Figure 2) -------------------------------------------------

/** RequestVote RPC arguments: invoked by candidates to gather votes. */
export interface RequestVoteArgs {
  term: number; // candidate's term
  candidateId: number; // candidate requesting vote
  lastLogIndex: number; // index of candidate's last log entry (2B)
  lastLogTerm: number; // term of candidate's last log entry (2B)
}

export interface RequestVoteReply {
  term: number; // currentTerm, for candidate to update itself
  voteGranted: boolean; // true means candidate received vote
}

/** One entry of the log: a command and the term in which the leader received it. */
export interface LogEntry {
  term: number;
  command: unknown;
}

/** AppendEntries RPC arguments: invoked by the leader to replicate entries; also the heartbeat. */
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
  // TODO (2C): the fast-backup hint (the lab's XTerm, XIndex, XLen) so the leader can skip a
  // whole term of mismatching entries at once instead of one entry per round trip.
}

// TODO (2D): InstallSnapshotArgs / InstallSnapshotReply.

type Role = 'follower' | 'candidate' | 'leader';

export class Raft {
  // ---- persistent state on all servers (updated on stable storage before responding to RPCs) ----
  /** Latest term this server has seen (initialized to 0 on first boot, increases monotonically). */
  currentTerm = 0;
  /** candidateId that received this server's vote in the current term (or null if none). */
  votedFor: number | null = null;
  /** Log entries; the first real entry has index 1 (log[0] is a placeholder of term 0). */
  log: LogEntry[] = [{ term: 0, command: null }];

  // ---- volatile state on all servers ----
  /** Index of highest log entry known to be committed (initialized to 0, increases monotonically). */
  commitIndex = 0;
  /** Index of highest log entry applied to the state machine (initialized to 0, increases monotonically). */
  lastApplied = 0;

  // ---- volatile state on leaders (reinitialized after election) ----
  /** For each server, index of the next log entry to send to that server (initialized to leader last log index + 1). */
  nextIndex: number[] = [];
  /** For each server, index of highest log entry known to be replicated on server (initialized to 0). */
  matchIndex: number[] = [];

  role: Role = 'follower';
  /** When this server last heard from a leader (or granted a vote): the election ticker compares against it. */
  lastHeard = now();
  private dead = false;

  constructor(
    readonly peers: readonly ClientEnd[],
    readonly me: number,
    readonly persister: Persister,
    readonly applyCh: Channel<ApplyMsg>,
  ) {
    this.readPersist(persister.readRaftState());
    void this.ticker();
    // TODO (2A): a heartbeat loop for the leader (at most 10 a second).
    // TODO (2B): one applier task, woken whenever commitIndex moves, that sends each newly
    // committed entry on applyCh in order: await this.applyCh.send({ commandValid: true, ... }).
  }

  /** The election ticker: a loop that sleeps a little and checks whether the leader has gone quiet. */
  private async ticker(): Promise<void> {
    while (!this.killed()) {
      // TODO (2A): if this server is not the leader and has not heard from one for a randomized
      // election timeout (the tester wants a new leader within 5 s and at most 10 heartbeats a
      // second: pick something like 300-600 ms), start an election.
      await sleep(50 + random() * 300);
    }
  }

  // ---- the tester's API --------------------------------------------------------------------

  /** This server's current term, and whether it believes it is the leader. */
  getState(): { term: number; isLeader: boolean } {
    return todo('getState (2A): return { term: currentTerm, isLeader: whether this server believes it is the leader }');
  }

  /**
   * Starts agreement on `command` if this server is the leader: appends it to its own log and
   * returns at once with the index it will have if it is ever committed, the current term, and
   * true. A server that is not the leader returns isLeader false. Never waits.
   */
  start(command: unknown): { index: number; term: number; isLeader: boolean } {
    void command;
    return todo('start (2B): append the command to the leader\'s log and return { index, term, isLeader }');
  }

  /**
   * The service has a snapshot of its state up to and including `index`: discard the log
   * through that index and persist the snapshot with the Raft state.
   */
  snapshot(index: number, snapshot: Uint8Array): void {
    void index;
    void snapshot;
    todo('snapshot (2D): trim the log through index and save the snapshot with persister.save(state, snapshot)');
  }

  /** The tester kills a server it crashes; a killed server must stop sending, answering and applying. */
  kill(): void {
    this.dead = true;
  }

  killed(): boolean {
    return this.dead;
  }

  // ---- RPC handlers ------------------------------------------------------------------------

  RequestVote(args: RequestVoteArgs): RequestVoteReply {
    void args;
    return todo('RequestVote (2A): grant or refuse the vote (Figure 2, RequestVote RPC, receiver implementation)');
  }

  AppendEntries(args: AppendEntriesArgs): AppendEntriesReply {
    void args;
    return todo('AppendEntries (2A heartbeats, 2B entries): Figure 2, AppendEntries RPC, receiver implementation');
  }

  // ---- persistence (2C) --------------------------------------------------------------------

  /** Saves currentTerm, votedFor and log (and, in 2D, the snapshot) with persister.save(state, snapshot). */
  persist(): void {
    // TODO (2C): encode { currentTerm, votedFor, log } (e.g. new TextEncoder().encode(JSON.stringify(...)))
    // and call this.persister.save(state, this.persister.readSnapshot()).
  }

  /** Restores what persist() saved; an empty state is a first boot. */
  readPersist(state: Uint8Array): void {
    if (state.length === 0) return;
    // TODO (2C): decode what persist() wrote and restore currentTerm, votedFor and log.
  }

  // ---- sending RPCs ------------------------------------------------------------------------

  /**
   * Sends a RequestVote RPC to server `peer` and resolves with its reply, or null if none came
   * (the request or the reply was lost, or the server is down or unreachable). Send each RPC from
   * its own async task, so a dead peer never holds up the others or the tickers.
   */
  sendRequestVote(peer: number, args: RequestVoteArgs): Promise<RequestVoteReply | null> {
    return this.peers[peer]!.call<RequestVoteReply>('Raft.RequestVote', args);
  }

  sendAppendEntries(peer: number, args: AppendEntriesArgs): Promise<AppendEntriesReply | null> {
    return this.peers[peer]!.call<AppendEntriesReply>('Raft.AppendEntries', args);
  }
}

/**
 * The lab's Make: creates server `me` of `peers.length`. `peers[i]` reaches server i;
 * `persister` holds what this server saved before it crashed (empty on first boot); every
 * committed command goes on `applyCh` in order, as
 * `{ commandValid: true, command, commandIndex, snapshotValid: false }` (`await applyCh.send(msg)`,
 * from one applier task). Must return at once: start long-running work as async tasks.
 */
export function make(peers: readonly ClientEnd[], me: number, persister: Persister, applyCh: Channel<ApplyMsg>): Raft {
  return new Raft(peers, me, persister, applyCh);
}
