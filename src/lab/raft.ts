import { PROFILES, type NodeOptions, type RaftObserver } from '../core/config.js';
import { EntryType, MessageType, isRequest, type Message } from '../core/types.js';
import { startNode, type NodeSetup, type StartedNode, type StartedReplica } from '../node/builder.js';
import type { RaftNode, NodeStatus, RaftNodeTiming, Transport } from '../node/raft-node.js';
import type { ReplicaOptions, StateMachine } from '../node/replica.js';
import type { ClientEnd, RpcMethod } from './labrpc.js';
import { decode, encode } from '../util/codec.js';
import type { Channel } from '../util/channel.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { PersisterStorage } from './persister-storage.js';
import { FilePersister } from './file-persister.js';
import type { Persister } from './persister.js';
import type { Entry } from '../core/types.js';
import type { LogStorage, StorageState } from '../storage/types.js';

/** What Raft delivers on the apply channel: a committed command, or a snapshot to adopt. */
export interface ApplyMsg {
  readonly commandValid: boolean;
  readonly command?: unknown;
  readonly commandIndex?: number;
  readonly snapshotValid: boolean;
  readonly snapshot?: Uint8Array;
  readonly snapshotTerm?: number;
  readonly snapshotIndex?: number;
}

/** The lab's Raft object, as `Make` returns it. */
export interface LabRaft {
  /** Starts agreement on `command` if this server is the leader; returns at once. */
  start(command: unknown): { index: number; term: number; isLeader: boolean };
  getState(): { term: number; isLeader: boolean };
  /** The service's snapshot of everything up to and including `index`. */
  snapshot(index: number, snapshot: Uint8Array): void;
  kill(): void;
  killed(): boolean;
  /** The RPC methods to register as service "Raft". */
  readonly service: Record<string, RpcMethod>;
  /** The node's state, once it has started (at once, unless its storage is on disk). */
  status(): NodeStatus | undefined;
  /** The entry at `index` in the node's in-memory log, for harness checks. */
  entryAt(index: number): Entry | undefined;
  /** tsraft's own Raft: the vote it holds in its current term (for pictures of the run). */
  vote?(): number | null;
}

/**
 * Timing of the `lab` profile (src/core/config.ts): 10 ms ticks, heartbeats
 * every 100 ms (the lab allows ten a second), election timeouts in
 * [300, 600) ms so a new leader appears well inside the tester's five seconds.
 */
export const LAB_TIMING: RaftNodeTiming = { tickMs: PROFILES.lab.tickMs, heartbeatTicks: PROFILES.lab.heartbeatTicks, electionTicks: PROFILES.lab.electionTicks };

/** Optional knobs of {@link make}; the defaults come from the network the peers belong to. */
export interface MakeOptions {
  readonly clock?: Clock;
  readonly random?: Random;
  /** Options that differ from the `lab` profile's (timing, say). */
  readonly timing?: Partial<NodeOptions>;
  readonly observer?: RaftObserver;
  readonly onFatal?: (err: unknown) => void;
  /** With a {@link FilePersister}: called with what recovery found, before the node starts. */
  readonly onRecovered?: (state: StorageState) => void;
}

const METHOD: Record<number, string> = {
  [MessageType.Vote]: 'Raft.RequestVote',
  [MessageType.PreVote]: 'Raft.PreVote',
  [MessageType.App]: 'Raft.AppendEntries',
  [MessageType.Heartbeat]: 'Raft.Heartbeat',
  [MessageType.Snap]: 'Raft.InstallSnapshot',
};

/** Requests go out as RPCs on the peer's end; their replies come back into the node. */
class RpcTransport implements Transport {
  node: RaftNode | undefined;

  constructor(private readonly peers: readonly ClientEnd[]) {}

  send(m: Message): void {
    const end = this.peers[m.to];
    if (end === undefined) return;
    if (isRequest(m)) {
      void end.call<Message>(METHOD[m.type]!, m).then((reply) => {
        if (reply !== null) this.node?.step(reply);
      });
    } else if (m.type === MessageType.ReadIndex || m.type === MessageType.ReadIndexResp || m.type === MessageType.Prop || m.type === MessageType.TimeoutNow) {
      // One-way messages: delivered as an RPC whose reply carries nothing.
      void end.call('Raft.Message', m);
    }
    // Other responses travel as RPC replies (see RaftNode.handleRequest), never on their own.
  }
}

/** Options of {@link startLabNode}: {@link MakeOptions} and what the service above Raft needs. */
export interface LabNodeOptions<R> extends MakeOptions {
  /** Append a no-op on election (needed for ReadIndex); the lab's Raft tests expect none. */
  readonly noopOnElection?: boolean;
  /** A state machine for a replica to drive; without one, the caller drains the node's apply stream. */
  readonly stateMachine?: StateMachine<R>;
  /** The replica's options (with a state machine). */
  readonly replica?: Omit<ReplicaOptions, 'clock' | 'canary'>;
  /** Called once the node (and its replica, with a state machine) has started. */
  readonly onStart?: (started: StartedNode & Partial<StartedReplica<R>>) => void;
}

/** A Raft server on the lab's network and persister, before any apply channel is attached. */
export interface LabNode {
  /** The node, once it has started (at once, unless its storage is on disk). */
  readonly node: RaftNode | null;
  /** The RPC methods to register as service "Raft". */
  readonly service: Record<string, RpcMethod>;
  kill(): void;
  killed(): boolean;
}

/**
 * Starts a Raft node (with {@link startNode}) whose peers are lab network
 * ends and whose storage is a lab persister: in memory, or a
 * {@link FilePersister}, whose data directory is recovered first. Until the
 * node has started it answers no RPC.
 */
export function startLabNode<R>(peers: readonly ClientEnd[], me: number, persister: Persister | FilePersister, opts: LabNodeOptions<R> = {}): LabNode {
  const network = peers[0]?.network;
  const clock = opts.clock ?? network?.clock;
  const random = opts.random ?? network?.random.fork();
  if (clock === undefined || random === undefined) throw new Error('make: no peers to take a clock and randomness from; pass them in options');

  const transport = new RpcTransport(peers);
  let node: RaftNode | null = null;
  let dead = false;
  let release = (): void => {};

  const start = (storage: LogStorage, onRecovered?: (state: StorageState) => void): Promise<void> => {
    const setup: NodeSetup = {
      id: me,
      voters: peers.map((_, i) => i),
      profile: 'lab',
      options: { ...opts.timing, noopOnElection: opts.noopOnElection ?? false },
      storage,
      clock,
      random,
      transport,
      observer: opts.observer,
      onFatal: opts.onFatal,
      onRecovered,
    };
    const starting: Promise<StartedNode & Partial<StartedReplica<R>>> = opts.stateMachine === undefined ? startNode(setup) : startNode({ ...setup, stateMachine: opts.stateMachine, replica: opts.replica });
    return starting.then((started) => {
      if (dead) {
        // Killed while its storage was being recovered: it never runs.
        started.replica?.stop();
        started.node.stop();
        return;
      }
      transport.node = started.node;
      node = started.node;
      opts.onStart?.(started);
    });
  };

  if (persister instanceof FilePersister) {
    persister
      .acquire()
      .then(({ storage, release: rel }) => {
        release = rel;
        if (dead) return rel();
        return start(storage, opts.onRecovered);
      })
      .catch((err: unknown) => {
        if (!dead) opts.onFatal?.(err);
      });
  } else {
    start(new PersisterStorage(persister)).catch((err: unknown) => {
      if (!dead) opts.onFatal?.(err);
    });
  }

  const handle = (m: Message): Promise<Message | null> => (dead || node === null ? Promise.resolve(null) : node.handleRequest(m));
  return {
    get node() {
      return dead ? null : node;
    },
    service: {
      RequestVote: handle,
      PreVote: handle,
      AppendEntries: handle,
      Heartbeat: handle,
      InstallSnapshot: handle,
      Message: (m: Message) => {
        if (!dead) node?.step(m);
        return {};
      },
    },
    kill() {
      dead = true;
      node?.stop();
      release();
    },
    killed: () => dead,
  };
}

/**
 * Creates a Raft server, as the lab's `Make(peers, me, persister, applyCh)`.
 * `peers[i]` reaches server i; `persister` holds what the previous incarnation
 * saved; committed commands and installed snapshots arrive on `applyCh`.
 * Returns at once; everything else runs in the background. With a
 * {@link FilePersister} the node starts once its data directory is recovered;
 * until then it answers no RPC and is nobody's leader.
 */
export function make(peers: readonly ClientEnd[], me: number, persister: Persister | FilePersister, applyCh: Channel<ApplyMsg>, opts: MakeOptions = {}): LabRaft {
  const ln = startLabNode(peers, me, persister, { ...opts, noopOnElection: false, onStart: ({ node }) => void pumpApplies(node, applyCh) });
  return {
    start(command) {
      const node = ln.node;
      const r = node === null ? null : node.propose(encode(command));
      return r === null ? { index: -1, term: node?.term ?? 0, isLeader: false } : { index: r.index, term: r.term, isLeader: true };
    },
    getState() {
      const node = ln.node;
      return { term: node?.term ?? 0, isLeader: node !== null && node.isLeader() };
    },
    snapshot(index, snapshot) {
      ln.node?.compact(index, snapshot);
    },
    kill() {
      ln.kill();
      applyCh.close();
    },
    killed: () => ln.killed(),
    service: ln.service,
    status: () => ln.node?.status(),
    entryAt: (index) => ln.node?.entryAt(index),
    vote: () => ln.node?.vote ?? null,
  };
}

/** Moves applied items from the node to the channel, one at a time: a slow reader only slows this loop. */
async function pumpApplies(node: RaftNode, applyCh: Channel<ApplyMsg>): Promise<void> {
  for (;;) {
    const items = await node.nextApplyBatch();
    if (items === null) return;
    for (const item of items) {
      let msg: ApplyMsg;
      if (item.kind === 'snapshot') {
        const s = item.snapshot;
        msg = { commandValid: false, snapshotValid: true, snapshot: s.data, snapshotTerm: s.meta.term, snapshotIndex: s.meta.index };
      } else {
        if (item.entry.type !== EntryType.Normal) continue;
        msg = { commandValid: true, command: decode(item.entry.data), commandIndex: item.entry.index, snapshotValid: false };
      }
      if (!(await applyCh.send(msg))) return;
    }
  }
}
