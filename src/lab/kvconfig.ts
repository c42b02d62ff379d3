import { checkHistory, explain, writeReport, type HistoryOp } from '../check/index.js';
import { RpcServer, type ClientEnd } from './labrpc.js';
import type { Clock } from '../util/clock.js';
import { LabHarness, LabFailure, type HarnessRuntime, type TestStats } from './harness.js';
import { Clerk, startKVServer, type LabKvServer } from './kvraft.js';
import { ImplementationError, guardHandlers, type StartKvServer } from './implementation.js';
import type { Persister } from './persister.js';
import type { RpcMethod } from './labrpc.js';
import { probeOf, type ServerProbe } from './observe.js';

/** The kvraft tester's election timeout (used for sleeps). */
export const KV_ELECTION_TIMEOUT = 1000;
const TEST_LIMIT_MS = 120_000;

/**
 * One-way latency of every delivered request and reply in the kvraft tests
 * (ms). labrpc adds none, but in Go every RPC costs real time; in virtual
 * time a zero-cost network would let a client issue unboundedly many
 * operations per simulated second. See docs/LAB.md.
 */
export const KV_NET_LATENCY = { min: 1, max: 3 };

export type KvConfigRuntime = HarnessRuntime;

/**
 * The kvraft tester's `config`: n KV servers (each a Raft node under a
 * replicated KV state machine) and any number of clerks on one simulated
 * network, with servers that can be shut down and restarted from their
 * persisted state, partitions, and the history log the linearizability check
 * reads.
 */
export class KvConfig extends LabHarness {
  readonly maxraftstate: number;
  private readonly kvservers: (LabKvServer | null)[];
  private readonly endnames: string[][];
  private readonly clerks = new Map<Clerk, string[]>();
  private readonly startTime: number;
  private t0 = 0;
  private rpcs0 = 0;
  private ops = 0;
  private lastStats: TestStats | undefined;
  /** Clerks made so far (they are C1, C2, ... in traces). */
  private clerkCount = 0;
  /** A KV server from outside (a learner's); undefined: tsraft's own. */
  private readonly implementation: StartKvServer | undefined;

  constructor(opts: { servers: number; unreliable: boolean; maxraftstate: number; startKVServer?: StartKvServer | undefined } & KvConfigRuntime) {
    super(opts.servers, opts, KV_NET_LATENCY);
    this.maxraftstate = opts.maxraftstate;
    this.implementation = opts.startKVServer;
    if (opts.startKVServer !== undefined && opts.storage === 'file') throw new LabFailure('file storage is for tsraft\'s own servers (its FilePersister); an implementation under test persists through the Persister it is given');
    this.net.setReliable(!opts.unreliable);
    this.startTime = this.clock.now();
    this.kvservers = new Array<LabKvServer | null>(this.n).fill(null);
    this.endnames = Array.from({ length: this.n }, () => []);
    for (let i = 0; i < this.n; i++) this.startServer(i);
    this.connectAll();
    this.traceReady = true;
  }

  /** Every server index. */
  all(): number[] {
    return Array.from({ length: this.n }, (_, i) => i);
  }

  // ---- servers --------------------------------------------------------------------

  /** Starts server i with fresh ends and a copy of (or, on files, the same) persisted state. */
  startServer(i: number): void {
    this.noteTester(i, 'restarted');
    this.endnames[i] = [];
    const ends = this.makeEnds(this.endnames[i]!, String(i));
    const persister = this.persisterFor(i);
    const kv =
      this.implementation !== undefined
        ? this.checked(i, this.implementation(ends, i, persister as Persister, this.maxraftstate))
        : startKVServer(ends, i, persister, this.maxraftstate, {
            clock: this.clock,
            random: this.random.fork(),
            onFatal: (err) => this.fail(err instanceof Error ? err : new LabFailure(String(err))),
          });
    this.kvservers[i] = kv;
    const srv = new RpcServer();
    srv.addService('KVServer', kv.service);
    srv.addService('Raft', kv.raftService);
    this.net.addServer(String(i), srv);
  }

  /**
   * Checks the shape of a KV server under test, and wraps its handlers so
   * one that throws fails the test with its name.
   */
  private checked(i: number, kv: LabKvServer): LabKvServer {
    const who = `server ${i}: startKVServer() returned`;
    if (kv === null || typeof kv !== 'object') throw new ImplementationError(`${who} ${kv === null ? 'null' : typeof kv}, not { rf, raftService, service, kill }`);
    if (typeof kv.rf?.getState !== 'function') throw new ImplementationError(`${who} no rf with a getState() method`);
    if (typeof kv.kill !== 'function') throw new ImplementationError(`${who} no kill() method`);
    const wrap = (svc: string, methods: Record<string, RpcMethod> | undefined): Record<string, RpcMethod> => {
      if (methods === null || typeof methods !== 'object') throw new ImplementationError(`${who} no ${svc === 'Raft' ? 'raftService' : 'service'} record of RPC methods`);
      return guardHandlers(i, svc, methods, (err) => this.fail(err));
    };
    return { rf: kv.rf, raftService: wrap('Raft', kv.raftService), service: wrap('KVServer', kv.service), kill: () => kv.kill() };
  }

  /** Shuts server i down, keeping what it persisted. */
  shutdownServer(i: number): void {
    this.noteTester(i, 'shut down');
    this.disconnect(i, this.all());
    this.net.deleteServer(String(i)); // replies of requests in progress are suppressed
    this.detach(i);
    this.kvservers[i]?.kill();
    this.kvservers[i] = null;
  }

  /** Enables the links from server i to each of `to`, and back. */
  connect(i: number, to: readonly number[]): void {
    for (const j of to) this.net.enable(this.endnames[i]![j]!, true);
    for (const j of to) this.net.enable(this.endnames[j]![i]!, true);
  }

  disconnect(i: number, from: readonly number[]): void {
    for (const j of from) {
      const out = this.endnames[i]?.[j];
      if (out !== undefined) this.net.enable(out, false);
      const inbound = this.endnames[j]?.[i];
      if (inbound !== undefined) this.net.enable(inbound, false);
    }
  }

  connectAll(): void {
    for (let i = 0; i < this.n; i++) this.connect(i, this.all());
    for (let i = 0; i < this.n; i++) this.noteTester(i, 'connected to all');
  }

  /** Each server talks only to the servers of its own group. Client links are left alone. */
  partition(p1: readonly number[], p2: readonly number[]): void {
    for (const i of [...p1, ...p2]) this.noteTester(i, `partitioned: {${p1.join(',')}} | {${p2.join(',')}}`);
    for (const i of p1) {
      this.disconnect(i, p2);
      this.connect(i, p1);
    }
    for (const i of p2) {
      this.disconnect(i, p1);
      this.connect(i, p2);
    }
  }

  /** Each server's Raft getState, or null while it is shut down (for traces). */
  serverStates(): ({ term: number; isLeader: boolean } | null)[] {
    return this.kvservers.map((kv) => kv?.rf.getState() ?? null);
  }

  /** What the replay page draws of each server (null while it is shut down): see src/lab/observe.ts. */
  serverProbes(): (ServerProbe | null)[] {
    return this.kvservers.map((kv) => (kv === null ? null : probeOf(kv.rf.getState(), kv.rf)));
  }

  /** The first server that believes it is leader, if any. */
  leader(): number | null {
    for (let i = 0; i < this.n; i++) if (this.kvservers[i]?.rf.getState().isLeader) return i;
    return null;
  }

  /** A majority of non-leaders, and the rest with the leader last: the leader lands in the minority. */
  makePartition(): [number[], number[]] {
    const l = this.leader() ?? 0;
    const p1: number[] = [];
    const p2: number[] = [];
    let j = 0;
    for (let i = 0; i < this.n; i++) {
      if (i === l) continue;
      if (j < Math.floor(this.n / 2) + 1) p1.push(i);
      else p2.push(i);
      j++;
    }
    p2.push(l);
    return [p1, p2];
  }

  // ---- clients -----------------------------------------------------------------------

  /** A clerk with fresh ends to every server, given in a random order, enabled only to `to`. */
  makeClient(to: readonly number[]): Clerk {
    const names: string[] = [];
    const ends: ClientEnd[] = [];
    const owner = `C${++this.clerkCount}`;
    for (let j = 0; j < this.n; j++) {
      names.push(this.randomName());
      ends.push(this.net.makeEnd(names[j]!, owner));
      this.net.connect(names[j]!, String(j));
    }
    // random_handles: the clerk must not rely on server order.
    const perm = ends.map((e, i) => [e, this.random.int(1 << 30), i] as const).sort((a, b) => a[1] - b[1] || a[2] - b[2]);
    const ck = new Clerk(
      perm.map((p) => p[0]),
      this.clock,
      this.random.fork(),
    );
    this.clerks.set(ck, names);
    this.connectClient(ck, to);
    return ck;
  }

  deleteClient(ck: Clerk): void {
    const names = this.clerks.get(ck);
    if (names !== undefined) for (const n of names) this.net.enable(n, false);
    this.clerks.delete(ck);
  }

  connectClient(ck: Clerk, to: readonly number[]): void {
    const names = this.clerks.get(ck)!;
    for (const j of to) this.net.enable(names[j]!, true);
  }

  disconnectClient(ck: Clerk, from: readonly number[]): void {
    const names = this.clerks.get(ck)!;
    for (const j of from) this.net.enable(names[j]!, false);
  }

  // ---- sizes and bookkeeping ----------------------------------------------------------

  /** Counts one client operation (for the Passed line). */
  op(): void {
    this.ops++;
  }

  begin(description: string): void {
    this.log(`${description} ...`);
    this.t0 = this.clock.now();
    this.rpcs0 = this.rpcTotal();
    this.ops = 0;
  }

  end(): void {
    this.throwIfFatal();
    if (this.clock.now() - this.startTime > TEST_LIMIT_MS) throw new LabFailure('test took longer than 120 seconds');
    const seconds = (this.clock.now() - this.t0) / 1000;
    const rpcs = this.rpcTotal() - this.rpcs0;
    this.lastStats = { seconds, peers: this.n, rpcs, bytes: 0, commands: this.ops };
    this.log(`  ... Passed --  ${seconds.toFixed(1).padStart(4)}  ${this.n} ${String(rpcs).padStart(5)} ${String(this.ops).padStart(4)}`);
  }

  get stats(): TestStats | undefined {
    return this.lastStats;
  }

  cleanup(): void {
    for (let i = 0; i < this.n; i++) {
      this.kvservers[i]?.kill();
      this.kvservers[i] = null;
    }
    this.closeNetwork();
  }

  // ---- the history --------------------------------------------------------------------

  /**
   * Checks a recorded history for linearizability. Stricter than the lab: a
   * check that cannot decide (`unknown`) fails too. A non-linearizable
   * history leaves an HTML report whose path the failure names.
   */
  checkLinearizable(history: readonly HistoryOp[], name: string): void {
    const r = checkHistory(history, { timeoutMs: 60_000 });
    if (r.verdict === 'ok') return;
    if (r.verdict === 'unknown') throw new LabFailure(`linearizability check timed out (${history.length} operations): verdict unknown`);
    let report = '';
    try {
      report = `; report: ${writeReport(r, name)}`;
    } catch {
      // No file system (the replay page in a browser): the explanation is the whole message.
    }
    throw new LabFailure(`history is not linearizable: ${explain(r)}${report}`);
  }
}

/** Records client operations with their call and return times, as the lab's wrappers do. */
export class OpLog {
  readonly ops: HistoryOp[] = [];
  constructor(private readonly clock: Clock) {}

  async get(cfg: KvConfig, ck: Clerk, key: string, cli: number): Promise<string> {
    const call = this.clock.now();
    const v = await ck.getValue(key);
    const ret = this.clock.now();
    cfg.op();
    this.ops.push({ clientId: cli, op: 'get', key, output: v, call, return: ret, status: 'ok' });
    return v ?? '';
  }

  async put(cfg: KvConfig, ck: Clerk, key: string, value: string, cli: number): Promise<void> {
    const call = this.clock.now();
    await ck.put(key, value);
    const ret = this.clock.now();
    cfg.op();
    this.ops.push({ clientId: cli, op: 'put', key, value, call, return: ret, status: 'ok' });
  }

  async append(cfg: KvConfig, ck: Clerk, key: string, value: string, cli: number): Promise<void> {
    const call = this.clock.now();
    await ck.append(key, value);
    const ret = this.clock.now();
    cfg.op();
    this.ops.push({ clientId: cli, op: 'append', key, value, call, return: ret, status: 'ok' });
  }
}
