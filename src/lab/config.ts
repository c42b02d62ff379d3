import { isDeepStrictEqual } from 'node:util';
import { decode, encode } from '../util/codec.js';
import { Scheduler } from '../sim/scheduler.js';
import { RpcServer } from './labrpc.js';
import { Channel } from '../util/channel.js';
import { RealClock } from '../util/clock.js';
import { SeededRandom, entropySeed } from '../util/random.js';
import { LabHarness, LabFailure, type HarnessRuntime, type TestStats } from './harness.js';
import { Persister } from './persister.js';
import { make, type ApplyMsg, type LabRaft } from './raft.js';
import { guardHandlers, raftServiceOf, type MakeRaft } from './implementation.js';
import { enterRuntime } from './runtime.js';
import { probeOf, type ServerProbe } from './observe.js';

export { LabFailure, type TestStats };

/** Construction options of {@link makeConfig}, mirroring the lab's `make_config`. */
export interface ConfigOptions {
  readonly servers: number;
  readonly unreliable?: boolean;
  /** Use the snapshotting applier (part 2D). */
  readonly snapshot?: boolean;
  /** Seed of every random choice in the run. Defaults to a fresh one. */
  readonly seed?: number;
  /** Virtual time (default) replays exactly from the seed; real time runs on the wall clock. */
  readonly clock?: 'virtual' | 'real';
  /** Where Passed lines and warnings go. Default: console.log. */
  readonly log?: (line: string) => void;
  /** Persist in memory, as the lab does (default), or in FileStorage on real files. */
  readonly storage?: 'memory' | 'file';
  /** The Raft under test (the lab's `Make`); default: tsraft's own (`make` of src/lab/raft.ts). */
  readonly make?: MakeRaft;
}

/** Options for harnesses that share one clock and random stream across configs. */
export type ConfigRuntime = HarnessRuntime;

/** Interval at which the snapshotting applier snapshots: after index k when (k+1) % 10 == 0. */
export const SNAPSHOT_INTERVAL = 10;
/** The lab's RaftElectionTimeout, used for test sleeps. */
export const ELECTION_TIMEOUT = 1000;
/** Per-test time limit. */
const TEST_LIMIT_MS = 120_000;

/**
 * The 6.824 Raft tester's `config`: n servers on a {@link SimNetwork}, each
 * with a persister and an applier that checks every applied command against
 * every other server's, plus the helpers the tests use. It also checks, all
 * the time, invariants the scripted tests only sample: one leader per term,
 * leaders holding every committed entry, contiguous applies, consecutive
 * Start indices within a term.
 */
export class Config extends LabHarness {
  private readonly snapshotMode: boolean;
  /** A Raft from outside (a learner's); undefined: tsraft's own, with its extra checks. */
  private readonly implementation: MakeRaft | undefined;
  /** Leaves the lab runtime this config entered (a standalone config of an implementation under test). */
  private leaveRuntime: (() => void) | undefined;

  readonly rafts: (LabRaft | null)[];
  private readonly applyErr: (string | null)[];
  private readonly connected: boolean[];
  private readonly endnames: string[][];
  /** What each server has applied, as the tester saw it: index → command. */
  private readonly logs: Map<number, unknown>[];
  private readonly lastApplied: number[];
  private maxIndex = 0;
  private maxIndex0 = 0;
  private finished = false;
  private readonly startTime: number;
  private t0 = 0;
  private rpcs0 = 0;
  private bytes0 = 0;
  private testName = '';
  /** term → leader seen for it, across every incarnation of every server. */
  private readonly leaderOfTerm = new Map<number, number>();
  /** `${server}:${term}` → last index Start returned there. */
  private readonly lastStart = new Map<string, number>();
  private lastStats: TestStats | undefined;

  constructor(opts: { servers: number; unreliable: boolean; snapshot: boolean; make?: MakeRaft | undefined; leaveRuntime?: () => void } & ConfigRuntime) {
    super(opts.servers, opts);
    this.snapshotMode = opts.snapshot;
    this.implementation = opts.make;
    this.leaveRuntime = opts.leaveRuntime;
    if (opts.make !== undefined && opts.storage === 'file') throw new LabFailure('file storage is for tsraft\'s own Raft (its FilePersister); an implementation under test persists through the Persister it is given');
    this.net.setReliable(!opts.unreliable);
    // Unreachable servers take long to fail: a leader must not send RPCs one after another.
    this.net.setLongDelays(true);
    this.startTime = this.clock.now();

    const n = this.n;
    this.rafts = new Array<LabRaft | null>(n).fill(null);
    this.applyErr = new Array<string | null>(n).fill(null);
    this.connected = new Array<boolean>(n).fill(false);
    this.endnames = Array.from({ length: n }, () => []);
    this.logs = Array.from({ length: n }, () => new Map());
    this.lastApplied = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) this.start1(i);
    for (let i = 0; i < n; i++) this.connect(i);
    this.traceReady = true;
  }

  // ---- running ----------------------------------------------------------------

  /**
   * Runs a test body against this config (in virtual time if the config has a
   * scheduler), fails it at once on any harness-detected violation, and
   * always cleans up.
   */
  async run<T>(body: (cfg: Config) => Promise<T>): Promise<T> {
    const guarded = async (): Promise<T> => {
      try {
        return await Promise.race([body(this), this.fatalPromise()]);
      } finally {
        this.cleanup();
      }
    };
    try {
      return this.scheduler !== undefined ? await this.scheduler.run(guarded, { maxVirtualMs: 30 * 60_000 }) : await guarded();
    } finally {
      await this.dispose();
      this.leaveRuntime?.();
      this.leaveRuntime = undefined;
    }
  }

  // ---- servers ----------------------------------------------------------------

  /** Each server's getState, or null while it is crashed (for traces). */
  serverStates(): ({ term: number; isLeader: boolean } | null)[] {
    return this.rafts.map((rf) => rf?.getState() ?? null);
  }

  /** What the replay page draws of each server (null while it is crashed): see src/lab/observe.ts. */
  serverProbes(): (ServerProbe | null)[] {
    return this.rafts.map((rf) => (rf === null ? null : probeOf(rf.getState(), rf)));
  }

  /** Server i's Raft, or null while it is crashed. An i out of range is a bug in the test. */
  private raftOf(i: number): LabRaft | null {
    const rf = this.rafts[i];
    if (rf === undefined) throw new RangeError(`no server ${i}: the config has ${this.n}`);
    return rf;
  }

  /** Crashes server i, keeping what it persisted: the restarted server sees exactly that. */
  crash1(i: number): void {
    this.disconnect(i);
    this.net.deleteServer(String(i)); // replies of requests in progress on it are now suppressed
    // (On files, the directory is the persisted state: the instance is stopped and closes it.)
    this.detach(i);
    const rf = this.raftOf(i);
    if (rf !== null) {
      rf.kill();
      this.rafts[i] = null;
      this.noteTester(i, 'crashed');
    }
    const cur = this.saved[i];
    if (cur instanceof Persister) {
      const p = new Persister();
      p.save(cur.readRaftState(), cur.readSnapshot());
      this.saved[i] = p;
    }
  }

  /** Starts (or restarts) server i with fresh ends and its persisted state; does not connect it. */
  start1(i: number): void {
    this.crash1(i);
    this.noteTester(i, 'started from its persisted state');
    this.endnames[i] = [];
    const ends = this.makeEnds(this.endnames[i]!, String(i));
    this.lastApplied[i] = 0;
    const persister = this.persisterFor(i);
    if (persister instanceof Persister) {
      const snap = persister.readSnapshot();
      if (snap.length > 0) {
        // The service on a restarted server loads the snapshot before Raft starts.
        const err = this.ingestSnapshot(i, snap, -1);
        if (err !== null) this.fail(err);
      }
    }

    const applyCh = new Channel<ApplyMsg>(0);
    if (this.implementation !== undefined) return this.startImplementation(i, ends, persister as Persister, applyCh);
    const raft = make(ends, i, persister, applyCh, {
      clock: this.clock,
      random: this.random.fork(),
      observer: { onRoleChange: (info) => info.role === 'leader' && this.checkNewLeader(i, info.term, raft) },
      onFatal: (err) => this.fail(err instanceof Error ? err : new LabFailure(String(err))),
      onRecovered: (state) => {
        if (state.snapshot !== null) {
          const err = this.ingestSnapshot(i, state.snapshot.data, -1);
          if (err !== null) this.fail(err);
        }
      },
    });
    this.rafts[i] = this.guardRaft(i, raft);
    void (this.snapshotMode ? this.applierSnap(i, applyCh) : this.applier(i, applyCh));

    const srv = new RpcServer();
    srv.addService('Raft', raft.service);
    this.net.addServer(String(i), srv);
  }

  /**
   * Starts server i on the implementation under test. Its RPC handlers are
   * wrapped so that one that throws fails the test with its name, rather
   * than rejecting inside the caller's code.
   */
  private startImplementation(i: number, ends: ReturnType<Config['makeEnds']>, persister: Persister, applyCh: Channel<ApplyMsg>): void {
    const rf = this.implementation!(ends, i, persister, applyCh);
    const methods = raftServiceOf(rf, `server ${i}`);
    const service = guardHandlers(i, 'Raft', methods, (err) => this.fail(err));
    let dead = false;
    const lab: LabRaft = {
      start: (command) => rf.start(command),
      getState: () => rf.getState(),
      snapshot: (index, snapshot) => rf.snapshot(index, snapshot),
      kill: () => {
        dead = true;
        rf.kill();
        // Its applier may be blocked sending: closing the channel releases it (send resolves false).
        applyCh.close();
      },
      killed: () => dead,
      service,
      status: () => undefined,
      entryAt: () => undefined,
    };
    this.rafts[i] = this.guardRaft(i, lab);
    void (this.snapshotMode ? this.applierSnap(i, applyCh) : this.applier(i, applyCh));
    const srv = new RpcServer();
    srv.addService('Raft', service);
    this.net.addServer(String(i), srv);
  }

  /** Wraps Start to check that a leader hands out consecutive indices within a term. */
  private guardRaft(i: number, rf: LabRaft): LabRaft {
    return {
      ...rf,
      start: (command) => {
        const r = rf.start(command);
        if (r.isLeader) {
          const key = `${i}:${r.term}`;
          const prev = this.lastStart.get(key);
          if (prev !== undefined && r.index !== prev + 1) this.fail(`server ${i} returned index ${r.index} from Start after ${prev} in term ${r.term}`);
          this.lastStart.set(key, r.index);
        }
        return r;
      },
    };
  }

  /** Attaches server i to the network: links to and from every connected server are enabled. */
  connect(i: number): void {
    if (!this.connected[i]) this.noteTester(i, 'connected');
    this.connected[i] = true;
    for (let j = 0; j < this.n; j++) {
      if (this.connected[j]) this.net.enable(this.endnames[i]![j]!, true);
    }
    for (let j = 0; j < this.n; j++) {
      if (this.connected[j]) this.net.enable(this.endnames[j]![i]!, true);
    }
  }

  /** Detaches server i: every link to or from it is disabled. */
  disconnect(i: number): void {
    if (this.connected[i]) this.noteTester(i, 'disconnected');
    this.connected[i] = false;
    for (let j = 0; j < this.n; j++) {
      const out = this.endnames[i]?.[j];
      if (out !== undefined) this.net.enable(out, false);
      const inbound = this.endnames[j]?.[i];
      if (inbound !== undefined) this.net.enable(inbound, false);
    }
  }

  isConnected(i: number): boolean {
    return this.connected[i]!;
  }

  setUnreliable(unrel: boolean): void {
    this.net.setReliable(!unrel);
  }

  setLongReordering(yes: boolean): void {
    this.net.setLongReordering(yes);
  }

  /** Requests delivered to server i (its current incarnation). */
  rpcCount(server: number): number {
    return this.net.getCount(String(server));
  }

  bytesTotal(): number {
    return this.net.getTotalBytes();
  }

  /** Kills every server and closes the network. */
  cleanup(): void {
    this.finished = true;
    for (let i = 0; i < this.n; i++) {
      this.rafts[i]?.kill();
      this.rafts[i] = null;
    }
    this.closeNetwork();
  }

  // ---- appliers ------------------------------------------------------------------

  /** The shared check: does command v at index k agree with what every server applied there? */
  private checkLogs(i: number, m: ApplyMsg): string | null {
    const k = m.commandIndex!;
    const v = m.command;
    for (let j = 0; j < this.n; j++) {
      const old = this.logs[j]!.get(k);
      if (old !== undefined && !isDeepStrictEqual(old, v)) {
        return `commit index=${k} server=${i} ${show(v)} != server=${j} ${show(old)}`;
      }
    }
    const prevok = this.logs[i]!.has(k - 1);
    this.logs[i]!.set(k, v);
    if (k > this.maxIndex) this.maxIndex = k;
    if (k > 1 && !prevok) return `server ${i} apply out of order ${k}`;
    return null;
  }

  private async applier(i: number, ch: Channel<ApplyMsg>): Promise<void> {
    for await (const m of ch) {
      if (!m.commandValid) continue;
      const k = m.commandIndex!;
      let err: string | null = null;
      // Stricter than the lab: within one incarnation applies are exactly contiguous.
      if (k !== this.lastApplied[i]! + 1) err = `server ${i} apply out of order, expected index ${this.lastApplied[i]! + 1}, got ${k}`;
      err ??= this.checkLogs(i, m);
      if (err !== null) {
        this.applyErr[i] = err;
        this.fail(`apply error: ${err}`);
        return;
      }
      this.lastApplied[i] = k;
    }
  }

  /** Decodes a tester-made snapshot and adopts it as server i's applied state. */
  private ingestSnapshot(i: number, snapshot: Uint8Array, index: number): string | null {
    let lastIncludedIndex: number;
    let xlog: unknown[];
    try {
      [lastIncludedIndex, xlog] = decode<[number, unknown[]]>(snapshot);
    } catch (e) {
      return `snapshot decode error: ${(e as Error).message}`;
    }
    if (typeof lastIncludedIndex !== 'number' || !Array.isArray(xlog)) return 'snapshot decode error: not [index, log]';
    if (index !== -1 && index !== lastIncludedIndex) return `server ${i} snapshot doesn't match m.SnapshotIndex`;
    const logs = new Map<number, unknown>();
    for (let j = 0; j < xlog.length; j++) logs.set(j, xlog[j]);
    this.logs[i] = logs;
    this.lastApplied[i] = lastIncludedIndex;
    return null;
  }

  /** The 2D applier: checks, and snapshots every SNAPSHOT_INTERVAL entries from inside its loop. */
  private async applierSnap(i: number, ch: Channel<ApplyMsg>): Promise<void> {
    const rf = this.raftOf(i);
    for await (const m of ch) {
      let err: string | null = null;
      if (m.snapshotValid) {
        err = m.snapshot === undefined || m.snapshot.length === 0 ? `server ${i} got an empty snapshot` : this.ingestSnapshot(i, m.snapshot, m.snapshotIndex!);
      } else if (m.commandValid) {
        const k = m.commandIndex!;
        if (k !== this.lastApplied[i]! + 1) err = `server ${i} apply out of order, expected index ${this.lastApplied[i]! + 1}, got ${k}`;
        err ??= this.checkLogs(i, m);
        if (err === null) {
          this.lastApplied[i] = k;
          if ((k + 1) % SNAPSHOT_INTERVAL === 0) {
            const xlog: unknown[] = [null];
            for (let j = 1; j <= k; j++) xlog.push(this.logs[i]!.get(j) ?? null);
            // Synchronously from inside the apply loop, as the lab's tester does.
            rf?.snapshot(k, encode([k, xlog]));
          }
        }
      }
      if (err !== null) {
        this.applyErr[i] = err;
        this.fail(`apply error: ${err}`);
        return;
      }
    }
  }

  // ---- continuous invariants ---------------------------------------------------------

  /**
   * Called the moment a server becomes leader: no other server may have led
   * this term, and its log must hold every command any server has applied
   * (Leader Completeness), unless its snapshot covers it.
   */
  private checkNewLeader(i: number, term: number, rf: LabRaft): void {
    const other = this.leaderOfTerm.get(term);
    if (other !== undefined && other !== i) {
      this.fail(`term ${term} has two leaders: ${other} and ${i}`);
      return;
    }
    this.leaderOfTerm.set(term, i);
    const snapIndex = rf.status()?.snapshotIndex ?? 0;
    for (let k = snapIndex + 1; k <= this.maxIndex; k++) {
      const committed = this.committedValue(k);
      if (committed === undefined) continue;
      const e = rf.entryAt(k);
      if (e === undefined) {
        this.fail(`leader ${i} of term ${term} lacks committed index ${k}`);
        return;
      }
      const v = decode(e.data);
      if (!isDeepStrictEqual(v, committed.value)) {
        this.fail(`leader ${i} of term ${term} holds ${show(v)} at index ${k}, but ${show(committed.value)} was committed there`);
        return;
      }
    }
  }

  private committedValue(k: number): { value: unknown } | undefined {
    for (const l of this.logs) if (l.has(k)) return { value: l.get(k) };
    return undefined;
  }

  // ---- checks ------------------------------------------------------------------------

  /** Finds the single leader, retrying for about five seconds. */
  async checkOneLeader(): Promise<number> {
    for (let iters = 0; iters < 10; iters++) {
      await this.sleep(450 + this.random.int(100));
      this.throwIfFatal();
      const leaders = new Map<number, number[]>();
      for (let i = 0; i < this.n; i++) {
        const rf = this.raftOf(i);
        if (this.connected[i] && rf !== null) {
          const { term, isLeader } = rf.getState();
          if (isLeader) leaders.set(term, [...(leaders.get(term) ?? []), i]);
        }
      }
      let lastTermWithLeader = -1;
      for (const [term, ls] of leaders) {
        if (ls.length > 1) throw new LabFailure(`term ${term} has ${ls.length} (>1) leaders`);
        if (term > lastTermWithLeader) lastTermWithLeader = term;
      }
      if (leaders.size !== 0) return leaders.get(lastTermWithLeader)![0]!;
    }
    throw new LabFailure('expected one leader, got none');
  }

  /** The term all connected servers agree on, or -1 if none is connected. */
  checkTerms(): number {
    let term = -1;
    for (let i = 0; i < this.n; i++) {
      const rf = this.raftOf(i);
      if (this.connected[i] && rf !== null) {
        const xterm = rf.getState().term;
        if (term === -1) term = xterm;
        else if (term !== xterm) throw new LabFailure('servers disagree on term');
      }
    }
    return term;
  }

  /** No connected server may think it is leader. */
  checkNoLeader(): void {
    for (let i = 0; i < this.n; i++) {
      const rf = this.raftOf(i);
      if (this.connected[i] && rf !== null && rf.getState().isLeader) {
        throw new LabFailure(`expected no leader among connected servers, but ${i} claims to be leader`);
      }
    }
  }

  /** How many servers think index is committed, and its command; checks they agree. */
  nCommitted(index: number): { count: number; command: unknown } {
    this.throwIfFatal();
    let count = 0;
    let cmd: unknown = undefined;
    for (let i = 0; i < this.n; i++) {
      const err = this.applyErr[i];
      if (err !== null) throw new LabFailure(err);
      const l = this.logs[i]!;
      if (l.has(index)) {
        const cmd1 = l.get(index);
        if (count > 0 && !isDeepStrictEqual(cmd, cmd1)) {
          throw new LabFailure(`committed values do not match: index ${index}, ${show(cmd)}, ${show(cmd1)}`);
        }
        count++;
        cmd = cmd1;
      }
    }
    return { count, command: cmd };
  }

  /**
   * Waits until at least n servers have committed index; returns its command,
   * or -1 if some server's term moved past startTerm (success no longer assured).
   */
  async wait(index: number, n: number, startTerm: number): Promise<unknown> {
    let to = 10;
    for (let iters = 0; iters < 30; iters++) {
      const { count } = this.nCommitted(index);
      if (count >= n) break;
      await this.sleep(to);
      if (to < 1000) to *= 2;
      if (startTerm > -1) {
        for (const r of this.rafts) {
          if (r !== null && r.getState().term > startTerm) return -1;
        }
      }
    }
    const { count, command } = this.nCommitted(index);
    if (count < n) throw new LabFailure(`only ${count} decided for index ${index}; wanted ${n}`);
    return command;
  }

  /**
   * Does a complete agreement on cmd: finds a leader, starts it, and waits for
   * expectedServers to commit it; with retry, re-submits after 2 s without
   * agreement. Gives up after 10 s. Returns the index.
   */
  async one(cmd: unknown, expectedServers: number, retry: boolean): Promise<number> {
    const t0 = this.clock.now();
    let starts = 0;
    while (this.clock.now() - t0 < 10_000 && !this.finished) {
      this.throwIfFatal();
      let index = -1;
      for (let si = 0; si < this.n; si++) {
        starts = (starts + 1) % this.n;
        const rf = this.raftOf(starts);
        if (this.connected[starts] && rf !== null) {
          const r = rf.start(cmd);
          if (r.isLeader) {
            index = r.index;
            break;
          }
        }
      }
      if (index !== -1) {
        const t1 = this.clock.now();
        while (this.clock.now() - t1 < 2000) {
          const { count, command } = this.nCommitted(index);
          if (count > 0 && count >= expectedServers && isDeepStrictEqual(command, cmd)) return index;
          await this.sleep(20);
        }
        if (!retry) throw new LabFailure(`one(${show(cmd)}) failed to reach agreement`);
      } else {
        await this.sleep(50);
      }
    }
    if (!this.finished) throw new LabFailure(`one(${show(cmd)}) failed to reach agreement`);
    return -1;
  }

  // ---- bookkeeping --------------------------------------------------------------------

  /** Starts a test: prints its title and records the baselines of the Passed line. */
  begin(description: string): void {
    this.testName = description;
    this.log(`${description} ...`);
    this.t0 = this.clock.now();
    this.rpcs0 = this.rpcTotal();
    this.bytes0 = this.bytesTotal();
    this.maxIndex0 = this.maxIndex;
  }

  /** Ends a test: enforces the time limit and prints the Passed line. */
  end(): void {
    this.checkTimeout();
    this.throwIfFatal();
    const stats: TestStats = {
      seconds: (this.clock.now() - this.t0) / 1000,
      peers: this.n,
      rpcs: this.rpcTotal() - this.rpcs0,
      bytes: this.bytesTotal() - this.bytes0,
      commands: this.maxIndex - this.maxIndex0,
    };
    this.lastStats = stats;
    this.log(`  ... Passed --  ${stats.seconds.toFixed(1).padStart(4)}  ${stats.peers} ${String(stats.rpcs).padStart(4)} ${String(stats.bytes).padStart(7)} ${String(stats.commands).padStart(4)}`);
  }

  /** Figures of the last test that passed {@link end}. */
  get stats(): TestStats | undefined {
    return this.lastStats;
  }

  get name(): string {
    return this.testName;
  }

  private checkTimeout(): void {
    if (!this.finished && this.clock.now() - this.startTime > TEST_LIMIT_MS) {
      throw new LabFailure('test took longer than 120 seconds');
    }
  }
}

function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Creates a tester config as the lab's `make_config(n, unreliable, snapshot)`
 * does, with its own clock: run the test through {@link Config.run}.
 */
export function makeConfig(opts: ConfigOptions): Config {
  const seed = opts.seed ?? entropySeed();
  const random = new SeededRandom(seed);
  const virtual = (opts.clock ?? 'virtual') === 'virtual';
  const scheduler = virtual ? new Scheduler() : undefined;
  const clock = scheduler ?? new RealClock();
  let cfg: Config | undefined;
  // An implementation under test reads the lab's sleep/now/random from the moment make() runs.
  const leaveRuntime =
    opts.make === undefined
      ? undefined
      : enterRuntime({ clock, random: random.fork(), virtual, fail: (err) => cfg?.fail(err) }, { guardRealClock: true });
  try {
    cfg = new Config({
      servers: opts.servers,
      unreliable: opts.unreliable ?? false,
      snapshot: opts.snapshot ?? false,
      clock,
      random,
      scheduler,
      log: opts.log,
      storage: opts.storage,
      make: opts.make,
      ...(leaveRuntime !== undefined && { leaveRuntime }),
    });
  } catch (e) {
    leaveRuntime?.();
    throw e;
  }
  return cfg;
}
