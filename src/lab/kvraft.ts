import { KvStateMachine } from '../kv/state-machine.js';
import { KvService } from '../kv/service.js';
import type { Replica } from '../node/replica.js';
import type { NodeStatus } from '../node/raft-node.js';
import type { Entry } from '../core/types.js';
import type { ClientEnd, RpcMethod } from './labrpc.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import type { KvResult } from '../kv/commands.js';
import type { FilePersister } from './file-persister.js';
import type { Persister } from './persister.js';
import { startLabNode, type MakeOptions } from './raft.js';

/** The lab's error strings. */
export type KvErr = 'OK' | 'ErrNoKey' | 'ErrWrongLeader';

export interface GetArgs {
  readonly key: string;
}
export interface GetReply {
  readonly err: KvErr;
  readonly value: string;
}
export interface PutAppendArgs {
  readonly key: string;
  readonly value: string;
  readonly op: 'Put' | 'Append';
  readonly clientId: string;
  readonly seq: number;
}
export interface PutAppendReply {
  readonly err: KvErr;
}

/** The lab's KVServer: `rf` for the tester, `service` to register as "KVServer". */
export interface LabKvServer {
  readonly rf: {
    getState(): { term: number; isLeader: boolean };
    /** tsraft's own servers: the Raft node's status, vote and log (for pictures of the run). */
    status?(): NodeStatus | undefined;
    vote?(): number | null;
    entryAt?(index: number): Entry | undefined;
  };
  /** The RPC methods of service "Raft". */
  readonly raftService: Record<string, RpcMethod>;
  /** The RPC methods of service "KVServer". */
  readonly service: Record<string, RpcMethod>;
  kill(): void;
}

/**
 * The lab's `StartKVServer(servers, me, persister, maxraftstate)`: a Raft node
 * (with a no-op on election, for ReadIndex) replicating a {@link KvStateMachine}.
 * Gets are linearizable reads by ReadIndex, served by any server that can
 * reach the leader; Puts and Appends go through the log with the clerk's
 * session, so a retried one applies once. Snapshots when the persisted Raft
 * state reaches `maxraftstate` bytes (-1: never).
 */
export function startKVServer(servers: readonly ClientEnd[], me: number, persister: Persister | FilePersister, maxraftstate: number, opts: MakeOptions = {}): LabKvServer {
  const clock = opts.clock ?? servers[0]!.network.clock;
  // Seeded runs stay deterministic: the replica's instance id comes from the run's randomness.
  const random = opts.random ?? servers[0]!.network.random.fork();
  let kv: KvService | null = null;
  let replica: Replica<KvResult> | null = null;
  const sm = new KvStateMachine();
  const ln = startLabNode<KvResult>(servers, me, persister, {
    ...opts,
    random: random.fork(),
    noopOnElection: true,
    stateMachine: sm,
    replica: {
      maxRaftState: maxraftstate,
      raftStateSize: () => persister.raftStateSize(),
      proposeTimeoutMs: 2000,
      random: random.fork(),
    },
    onStart: (started) => {
      replica = started.replica!;
      kv = new KvService(replica, sm, () => clock.now());
    },
  });

  const get = async (args: GetArgs): Promise<GetReply> => {
    if (kv === null || ln.killed()) return { err: 'ErrWrongLeader', value: '' };
    try {
      const item = await kv.get(args.key);
      return item === null ? { err: 'ErrNoKey', value: '' } : { err: 'OK', value: item.value };
    } catch {
      return { err: 'ErrWrongLeader', value: '' }; // not the leader, or it could not confirm the read: try another
    }
  };
  const putAppend = async (args: PutAppendArgs): Promise<PutAppendReply> => {
    if (kv === null || ln.killed()) return { err: 'ErrWrongLeader' };
    const session = { clientId: args.clientId, seq: args.seq };
    try {
      if (args.op === 'Put') await kv.put(args.key, args.value, session);
      else await kv.append(args.key, args.value, session);
      return { err: 'OK' };
    } catch {
      return { err: 'ErrWrongLeader' };
    }
  };

  return {
    rf: {
      getState: () => {
        const n = ln.node;
        return { term: n?.term ?? 0, isLeader: n !== null && n.isLeader() };
      },
      status: () => ln.node?.status(),
      vote: () => ln.node?.vote ?? null,
      entryAt: (index) => ln.node?.entryAt(index),
    },
    raftService: ln.service,
    service: { Get: get, PutAppend: putAppend },
    kill() {
      (replica as Replica<KvResult> | null)?.stop();
      ln.kill();
    },
  };
}

/** How long a clerk waits after every server said no before trying them all again (ms). */
const RETRY_PAUSE_MS = 20;

/**
 * The lab's Clerk: tries servers until one succeeds (forever), remembers the
 * last one that did, and numbers its writes (client id + sequence) so a
 * retried write applies once. One call at a time.
 */
export class Clerk {
  readonly clientId: string;
  private seq = 0;
  private leader = 0;

  constructor(
    private readonly servers: readonly ClientEnd[],
    private readonly clock: Clock,
    random: Random,
  ) {
    this.clientId = `c${random.int(Number.MAX_SAFE_INTEGER).toString(36)}`;
  }

  /** The value of `key`, or "" if it does not exist. */
  async get(key: string): Promise<string> {
    return (await this.getValue(key)) ?? '';
  }

  /** The value of `key`, or null if it does not exist (what a history records). */
  async getValue(key: string): Promise<string | null> {
    const reply = await this.call<GetReply>('KVServer.Get', { key } satisfies GetArgs, (r) => r.err === 'OK' || r.err === 'ErrNoKey');
    return reply.err === 'OK' ? reply.value : null;
  }

  put(key: string, value: string): Promise<void> {
    return this.putAppend(key, value, 'Put');
  }

  append(key: string, value: string): Promise<void> {
    return this.putAppend(key, value, 'Append');
  }

  private async putAppend(key: string, value: string, op: 'Put' | 'Append'): Promise<void> {
    const args: PutAppendArgs = { key, value, op, clientId: this.clientId, seq: ++this.seq };
    await this.call<PutAppendReply>('KVServer.PutAppend', args, (r) => r.err === 'OK');
  }

  private async call<R>(method: string, args: unknown, done: (r: R) => boolean): Promise<R> {
    for (;;) {
      for (let tried = 0; tried < this.servers.length; tried++) {
        const reply = await this.servers[this.leader]!.call<R>(method, args);
        if (reply !== null && done(reply)) return reply;
        this.leader = (this.leader + 1) % this.servers.length;
      }
      await this.clock.sleep(RETRY_PAUSE_MS);
    }
  }
}
