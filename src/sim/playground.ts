import { checkHistory, type HistoryOp } from '../check/index.js';
import type { NodeId, Role } from '../core/types.js';
import type { KvService } from '../kv/service.js';
import { NotLeaderError } from '../node/errors.js';
import { SimCheckFailure } from './safety.js';
import { Simulation, type SimNode } from './cluster.js';
import { NodeDownError, type CallResult } from './workload.js';
import type { MessageSent, SimEvent } from './observe.js';

/** The cluster sizes the playground offers. */
export const PLAYGROUND_SIZES = [3, 5, 7] as const;
export type PlaygroundSize = (typeof PLAYGROUND_SIZES)[number];

/** Where a client request goes: a node by id, or whichever node leads when it is sent. */
export type ClientTarget = NodeId | 'leader';

/**
 * Something the user did. Cuts are directed (`from` stops reaching `to`);
 * `both` cuts or heals the two directions at once. `isolate` cuts every link
 * to and from a node; `heal-all` heals every cut.
 */
export type PlaygroundAction =
  | { readonly kind: 'crash' | 'restart' | 'pause' | 'resume' | 'isolate'; readonly node: NodeId }
  | { readonly kind: 'cut' | 'heal'; readonly from: NodeId; readonly to: NodeId; readonly both: boolean }
  | { readonly kind: 'heal-all' }
  | { readonly kind: 'put'; readonly key: string; readonly value: string; readonly target: ClientTarget }
  | { readonly kind: 'get'; readonly key: string; readonly target: ClientTarget };

/** An action and the virtual time (ms) at which it was applied. */
export interface TimedAction {
  readonly at: number;
  readonly action: PlaygroundAction;
}

/** A whole session: replaying `actions` on a fresh playground of `seed` and `nodes`, up to `until`, gives the same state. */
export interface PlaygroundSession {
  readonly seed: number;
  readonly nodes: PlaygroundSize;
  readonly actions: readonly TimedAction[];
  /** Virtual time (ms) the session had reached. */
  readonly until: number;
}

/** A client request the user sent, and what came of it. */
export interface ClientOpView {
  readonly id: number;
  readonly op: 'put' | 'get';
  readonly key: string;
  readonly value: string | undefined;
  readonly target: ClientTarget;
  /** The node it was sent to (null: there was no leader to send it to). */
  readonly node: NodeId | null;
  readonly calledAt: number;
  /** `lost`: no answer within the client's timeout; `error`: the node refused (not the leader, down, ...). */
  status: 'pending' | 'ok' | 'error' | 'lost';
  /** A get's value (null: no such key); a put's revision. */
  result: string | null | undefined;
  error: string | undefined;
  returnedAt: number | undefined;
}

/** One node as the page draws it. Raft fields are null while the node's process is not running. */
export interface PlaygroundNodeView {
  readonly id: NodeId;
  readonly status: 'up' | 'down' | 'starting' | 'refused' | 'retired';
  readonly paused: boolean;
  readonly role: Role | null;
  readonly term: number | null;
  /** Whom it voted for in its term (for a node that is down: the vote on its disk). */
  readonly vote: NodeId | null;
  readonly leader: NodeId | null;
  readonly commit: number | null;
  readonly applied: number | null;
  readonly lastIndex: number;
  readonly snapIndex: number;
  /** Terms of the log's last entries: `tailTerms[i]` is the term of entry `tailFirst + i`. For a node that is down: its durable log. */
  readonly tailFirst: number;
  readonly tailTerms: readonly number[];
}

/** A message on the wire (one copy of it: the network may duplicate), or waiting for a paused node. */
export interface InFlightView {
  readonly id: number;
  readonly copy: number;
  readonly from: NodeId;
  readonly to: NodeId;
  /** `AppendEntries`, `RequestVoteReply`, ... */
  readonly name: string;
  /** The message in words: `AppendEntries t4 prev 7@3 [8..12] commit 7`. */
  readonly words: string;
  readonly term: number;
  /** A reply's verdict (granted, success); undefined for requests. */
  readonly ok: boolean | undefined;
  readonly entries: number;
  readonly sentAt: number;
  readonly arriveAt: number;
  /** It waits in a paused node's buffer: `out` (the sender is paused) or `in` (the receiver is). */
  held: 'in' | 'out' | null;
}

/** A message the network lost: on a cut link, or because its receiver was down. */
export interface DropView {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly name: string;
  readonly words: string;
  readonly at: number;
  /** Dropped as it was sent (a cut link) or on arrival (cut meanwhile, the receiver down). */
  readonly atSend: boolean;
  readonly reason: 'cut' | 'loss' | 'down';
}

/** The first failed safety check (or an exception in a node), after which the playground stops. */
export interface PlaygroundFailure {
  readonly check: string;
  readonly message: string;
  readonly at: number;
}

export interface PlaygroundOptions {
  readonly seed: number;
  readonly nodes: PlaygroundSize;
  /** Receives every trace line, time first (the simulator's trace, and the user's actions as `you: ...`). */
  readonly trace?: (line: string) => void;
  /** How many log entries a node view holds (default 40). */
  readonly logTail?: number;
}

/** One-way network delay of the playground's links: slow enough to watch messages travel (ms). */
export const PLAYGROUND_LINK = { loss: 0, dup: 0, baseMs: 12, jitterMs: 10 } as const;
/** How long a client waits for an answer (virtual ms). */
export const CLIENT_TIMEOUT_MS = 1500;

/** A usage error of the playground's API or of a session link (a bad action, a bad URL). */
export class PlaygroundError extends Error {
  override name = 'PlaygroundError';
}

/**
 * An interactive cluster of 3, 5 or 7 real nodes: the simulator's
 * {@link Simulation} (real RaftNode, KV state machine, FileStorage on SimDisk,
 * SimMessageNetwork, SafetyMonitor) without its fault plan or clients; the
 * user's actions are the faults and the clients. Virtual time moves only
 * when {@link runUntil} or {@link advance} is called, so its state is a
 * function of (seed, size, timed actions): {@link session} records them and
 * {@link replay} rebuilds the same state. No DOM: the page and Node tests
 * share it.
 */
export class Playground {
  readonly seed: number;
  readonly size: PlaygroundSize;
  private readonly sim: Simulation;
  private readonly actions: TimedAction[] = [];
  private readonly cuts = new Set<string>();
  private readonly opViews: ClientOpView[] = [];
  private readonly logTail: number;
  private started = false;
  private busy = false;
  /** The last runUntil ended and no action came since (see Scheduler.runUntil's `settled`). */
  private settled = false;
  private failureValue: PlaygroundFailure | null = null;
  /** FNV-1a (64 bits as two 32-bit halves) of every trace line so far: a cheap fingerprint of the run. */
  private fpA = 0x811c9dc5;
  private fpB = 0x01000193;
  private lines = 0;
  private readonly sent = new Map<number, MessageSent>();
  private readonly inFlight = new Map<string, InFlightView>();
  private readonly drops: DropView[] = [];
  private readonly notable: { at: number; line: string }[] = [];

  constructor(opts: PlaygroundOptions) {
    if (!Number.isSafeInteger(opts.seed) || opts.seed < 0) throw new PlaygroundError(`seed must be a non-negative integer, got ${opts.seed}`);
    if (!(PLAYGROUND_SIZES as readonly number[]).includes(opts.nodes)) throw new PlaygroundError(`nodes must be 3, 5 or 7, got ${opts.nodes}`);
    this.seed = opts.seed;
    this.size = opts.nodes;
    this.logTail = opts.logTail ?? 40;
    const sink = opts.trace;
    this.sim = new Simulation(opts.seed, 'calm', opts.nodes, 0, {
      seed: opts.seed,
      // The playground's Raft: the production choices, the simulation profile's short timeouts.
      raft: { preVote: true, checkQuorum: true, noopOnElection: true },
      trace: (line) => {
        this.fingerprintLine(line);
        sink?.(line);
      },
      observer: (e) => this.observe(e),
    });
    this.sim.restartAfterCrash = false;
    this.sim.net.faults = { ...PLAYGROUND_LINK };
  }

  /** Starts every node at virtual time 0. Call once, before anything else. */
  async start(): Promise<void> {
    if (this.started) throw new PlaygroundError('the playground has already started');
    this.started = true;
    await this.sim.sched.run(async () => {
      for (const n of this.sim.nodes) await this.sim.start(n);
    });
  }

  /** Virtual time (ms). */
  get now(): number {
    return this.sim.sched.now();
  }

  /** The first failed check, if any: the playground stops there. */
  get failure(): PlaygroundFailure | null {
    return this.failureValue;
  }

  /** Timers fired so far (a measure of the work done). */
  get events(): number {
    return this.sim.sched.events;
  }

  /**
   * Advances virtual time to `t` (ms), firing every timer due by then; the
   * safety checks run after each step. Does nothing after a failure. Calls
   * must not overlap.
   */
  async runUntil(t: number): Promise<void> {
    this.mustHaveStarted();
    if (this.busy) throw new PlaygroundError('runUntil called while a previous call is still running');
    if (this.failureValue !== null || t <= this.now) return;
    this.busy = true;
    try {
      await this.sim.sched.runUntil(t, { afterStep: () => this.sim.afterStep(), settled: this.settled });
      this.settled = true;
    } catch (e) {
      this.fail(e);
    } finally {
      this.busy = false;
    }
  }

  /** Advances virtual time by `ms`. */
  advance(ms: number): Promise<void> {
    return this.runUntil(this.now + ms);
  }

  /**
   * Applies `action` now and records it with the current virtual time, then
   * lets what it started run for one turn of the event loop (no time
   * passes): so an action's effect never depends on what the caller does
   * between two actions, and a replay gives the same run. Rejects with a
   * {@link PlaygroundError} for a node that does not exist or an action that
   * makes no sense in the current state (restarting a running node, say);
   * nothing is recorded then. Calls must not overlap each other or {@link runUntil}.
   */
  async apply(action: PlaygroundAction): Promise<void> {
    this.mustHaveStarted();
    if (this.busy) throw new PlaygroundError('an action cannot be applied while time is advancing or another action is applied');
    if (this.failureValue !== null) throw new PlaygroundError(`the playground stopped at a failed check (${this.failureValue.check})`);
    this.check(action);
    this.busy = true;
    try {
      this.actions.push({ at: this.now, action });
      this.sim.trace(`you: ${describeAction(action)}`);
      this.perform(action);
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.sim.afterStep();
      this.settled = true;
    } catch (e) {
      this.fail(e);
    } finally {
      this.busy = false;
    }
  }

  /** The recorded session: the seed, the size, every action, and the time reached. */
  session(): PlaygroundSession {
    return { seed: this.seed, nodes: this.size, actions: [...this.actions], until: this.now };
  }

  /** The actions applied so far. */
  get recorded(): readonly TimedAction[] {
    return this.actions;
  }

  /**
   * Rebuilds a session: a fresh playground of its seed and size, each action
   * applied at its time, then time advanced to `until` (or `session.until`).
   * `onProgress` hears the virtual time reached now and then (a long session takes a while).
   */
  static async replay(session: PlaygroundSession, opts: { trace?: (line: string) => void; until?: number; onProgress?: (t: number) => void } = {}): Promise<Playground> {
    const pg = new Playground({ seed: session.seed, nodes: session.nodes, ...(opts.trace !== undefined && { trace: opts.trace }) });
    await pg.start();
    const until = opts.until ?? session.until;
    for (const { at, action } of session.actions) {
      if (at > until) break;
      await pg.runInSlices(at, opts.onProgress);
      if (pg.failure !== null) return pg;
      await pg.apply(action);
    }
    await pg.runInSlices(until, opts.onProgress);
    return pg;
  }

  private async runInSlices(t: number, onProgress: ((t: number) => void) | undefined): Promise<void> {
    // Slicing changes nothing (runUntil's result depends on t alone); it lets a page show progress.
    while (this.now < t && this.failureValue === null) {
      await this.runUntil(Math.min(t, this.now + 1000));
      onProgress?.(this.now);
    }
  }

  // ---- what the page draws ----------------------------------------------------------

  /** Each node's state now. */
  nodes(): PlaygroundNodeView[] {
    return this.sim.nodes.map((n) => this.nodeView(n));
  }

  private nodeView(n: SimNode): PlaygroundNodeView {
    const durable = n.model.durableState;
    const raft = n.raft;
    const tail = this.logTail;
    if (raft === null || n.status !== 'up') {
      // A process that is not running: show what its disk keeps.
      const entries = durable.entries.slice(-tail);
      const snapIndex = durable.snapshot?.meta.index ?? 0;
      const last = entries.at(-1)?.index ?? snapIndex;
      return {
        id: n.id,
        status: n.status,
        paused: n.paused,
        role: null,
        term: null,
        vote: durable.hardState.vote,
        leader: null,
        commit: null,
        applied: null,
        lastIndex: last,
        snapIndex,
        tailFirst: entries[0]?.index ?? last + 1,
        tailTerms: entries.map((e) => e.term),
      };
    }
    const st = raft.status();
    const first = Math.max(st.snapshotIndex + 1, st.lastIndex - tail + 1, 1);
    const terms: number[] = [];
    for (let i = first; i <= st.lastIndex; i++) terms.push(raft.termAt(i) ?? 0);
    return {
      id: n.id,
      status: n.status,
      paused: n.paused,
      role: st.role,
      term: st.term,
      vote: raft.vote,
      leader: st.leader,
      commit: st.commitIndex,
      applied: n.replica?.applied ?? st.appliedIndex,
      lastIndex: st.lastIndex,
      snapIndex: st.snapshotIndex,
      tailFirst: first,
      tailTerms: terms,
    };
  }

  /** The live leader of the highest term (null: none). */
  leader(): NodeId | null {
    return this.sim.leaderNode()?.id ?? null;
  }

  /** The cut links (from → to). */
  cutLinks(): [NodeId, NodeId][] {
    return [...this.cuts].map((k) => k.split('>').map(Number) as [NodeId, NodeId]);
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cuts.has(`${from}>${to}`);
  }

  /** The client requests sent so far, oldest first. */
  clientOps(): readonly ClientOpView[] {
    return this.opViews;
  }

  /** Checks the history of the user's requests for linearizability (puts and gets as the clients saw them). */
  checkLinearizable(): 'ok' | 'illegal' | 'unknown' {
    const history: HistoryOp[] = this.opViews.map((o) => historyOf(o, this.now));
    return checkHistory(history, { timeoutMs: 5000 }).verdict;
  }

  /**
   * A fingerprint of the run so far (every trace line hashed, with the time
   * it happened): equal fingerprints mean the same run, to a 64-bit hash.
   */
  fingerprint(): string {
    return `${(this.fpA >>> 0).toString(16).padStart(8, '0')}${(this.fpB >>> 0).toString(16).padStart(8, '0')}:${this.lines}`;
  }

  /** The messages on the wire now (and those a paused node holds). */
  messagesInFlight(): InFlightView[] {
    return [...this.inFlight.values()];
  }

  /** The messages dropped in the last `ms` of virtual time, oldest first. */
  recentDrops(ms: number): DropView[] {
    const since = this.now - ms;
    return this.drops.filter((d) => d.at >= since);
  }

  /** The last `count` lines of the trace that are not single messages (roles, faults, your actions and requests). */
  recentEvents(count: number): readonly { at: number; line: string }[] {
    return this.notable.slice(-count);
  }

  /** Messages sent, delivered and dropped so far. */
  messageStats(): { sent: number; delivered: number; dropped: number } {
    const s = this.sim.net.stats;
    return { sent: s.sent, delivered: s.delivered, dropped: s.dropped };
  }

  // ---- inside ------------------------------------------------------------------------

  private mustHaveStarted(): void {
    if (!this.started) throw new PlaygroundError('call start() first');
  }

  private node(id: NodeId): SimNode {
    const n = this.sim.nodes[id];
    if (!Number.isInteger(id) || n === undefined) throw new PlaygroundError(`no node ${id}: the cluster has nodes 0..${this.size - 1}`);
    return n;
  }

  /** Refuses an action that names no node or makes no sense now. */
  private check(a: PlaygroundAction): void {
    switch (a.kind) {
      case 'crash':
        if (this.node(a.node).status !== 'up') throw new PlaygroundError(`node ${a.node} is not running: nothing to crash`);
        return;
      case 'restart':
        if (this.node(a.node).status !== 'down') throw new PlaygroundError(`node ${a.node} is ${this.node(a.node).status}: only a crashed node restarts`);
        return;
      case 'pause': {
        const n = this.node(a.node);
        if (n.status !== 'up' || n.paused) throw new PlaygroundError(`node ${a.node} is ${n.paused ? 'already paused' : 'not running'}`);
        return;
      }
      case 'resume':
        if (!this.node(a.node).paused) throw new PlaygroundError(`node ${a.node} is not paused`);
        return;
      case 'isolate':
        this.node(a.node);
        return;
      case 'cut':
      case 'heal':
        this.node(a.from);
        this.node(a.to);
        if (a.from === a.to) throw new PlaygroundError(`a link joins two nodes: got ${a.from} to itself`);
        return;
      case 'heal-all':
        return;
      case 'put':
      case 'get':
        if (a.target !== 'leader') this.node(a.target);
        if (a.key === '') throw new PlaygroundError('the key is empty');
        return;
    }
  }

  private perform(a: PlaygroundAction): void {
    const sim = this.sim;
    switch (a.kind) {
      case 'crash':
        return sim.kill(this.node(a.node));
      case 'restart':
        return sim.restart(this.node(a.node));
      case 'pause':
        return sim.pause(this.node(a.node));
      case 'resume':
        return sim.resume(this.node(a.node));
      case 'isolate':
        for (const other of sim.nodes) {
          if (other.id === a.node) continue;
          this.cuts.add(`${a.node}>${other.id}`);
          this.cuts.add(`${other.id}>${a.node}`);
        }
        return this.applyCuts();
      case 'cut':
      case 'heal': {
        const keys = a.both ? [`${a.from}>${a.to}`, `${a.to}>${a.from}`] : [`${a.from}>${a.to}`];
        for (const k of keys) {
          if (a.kind === 'cut') this.cuts.add(k);
          else this.cuts.delete(k);
        }
        return this.applyCuts();
      }
      case 'heal-all':
        this.cuts.clear();
        return this.applyCuts();
      case 'put':
      case 'get':
        return this.send(a);
    }
  }

  private applyCuts(): void {
    this.sim.net.setCuts(this.cutLinks());
  }

  /** Sends one client request (one attempt, no retry: the user sees exactly what the node answered). */
  private send(a: Extract<PlaygroundAction, { kind: 'put' | 'get' }>): void {
    const node = a.target === 'leader' ? this.leader() : a.target;
    const view: ClientOpView = {
      id: this.opViews.length + 1,
      op: a.kind,
      key: a.key,
      value: a.kind === 'put' ? a.value : undefined,
      target: a.target,
      node,
      calledAt: this.now,
      status: 'pending',
      result: undefined,
      error: undefined,
      returnedAt: undefined,
    };
    this.opViews.push(view);
    if (node === null) {
      view.status = 'error';
      view.error = 'no leader now: no node to send it to';
      view.returnedAt = this.now;
      return;
    }
    const fn = async (kv: KvService): Promise<string | null> => {
      if (a.kind === 'put') return String((await kv.put(a.key, a.value)).revision);
      return (await kv.get(a.key))?.value ?? null;
    };
    void this.sim.call(node, fn, CLIENT_TIMEOUT_MS).then((r: CallResult<string | null>) => {
      view.returnedAt = this.now;
      if (r.kind === 'ok') {
        view.status = 'ok';
        view.result = r.value;
      } else if (r.kind === 'lost') {
        view.status = 'lost';
        view.error = `no answer within ${CLIENT_TIMEOUT_MS} ms`;
      } else {
        view.status = 'error';
        view.error = describeError(r.error);
      }
      this.sim.trace(`you: request ${view.id} ${view.op}(${view.key}) at node ${node}: ${view.status}${view.status === 'ok' ? ` ${JSON.stringify(view.result)}` : ` (${view.error})`}`);
    });
  }

  private fail(e: unknown): void {
    // report() keeps the first failure and traces it.
    this.sim.report(e);
    const f = this.sim.failure ?? new SimCheckFailure('node-failure', String(e));
    this.failureValue = { check: f.check, message: f.message, at: this.sim.failedAt };
  }

  private observe(e: SimEvent): void {
    switch (e.kind) {
      case 'send':
        this.sent.set(e.id, e);
        return;
      case 'schedule': {
        const m = this.sent.get(e.id);
        if (m !== undefined) this.inFlight.set(`${e.id}:${e.copy}`, { id: e.id, copy: e.copy, from: m.from, to: m.to, name: m.name, words: m.words, term: m.term, ok: m.ok, entries: m.entries, sentAt: e.t, arriveAt: e.arriveAt, held: null });
        return;
      }
      case 'hold': {
        const f = this.inFlight.get(`${e.id}:${e.copy}`);
        if (f !== undefined) f.held = e.side;
        else if (e.side === 'out') {
          // Its sender is paused: it waits at the sender until it resumes.
          const m = this.sent.get(e.id);
          if (m !== undefined) this.inFlight.set(`${e.id}:${e.copy}`, { id: e.id, copy: e.copy, from: m.from, to: m.to, name: m.name, words: m.words, term: m.term, ok: m.ok, entries: m.entries, sentAt: e.t, arriveAt: e.t, held: 'out' });
        }
        return;
      }
      case 'deliver':
        this.settle(e.id, e.copy);
        return;
      case 'drop': {
        const m = this.sent.get(e.id);
        this.settle(e.id, e.copy);
        if (m !== undefined) {
          this.drops.push({ from: m.from, to: m.to, name: m.name, words: m.words, at: e.t, atSend: e.atSend, reason: e.reason });
          if (this.drops.length > 200) this.drops.splice(0, this.drops.length - 100);
        }
        return;
      }
      case 'trace':
        if (!e.line.startsWith('recv ') && !e.line.startsWith('drop ')) {
          this.notable.push({ at: e.t, line: e.line });
          if (this.notable.length > 400) this.notable.splice(0, 200);
        }
        return;
      default:
        return;
    }
  }

  /** One copy of a message arrived or was lost. */
  private settle(id: number, copy: number): void {
    const key = `${id}:${copy}`;
    this.inFlight.delete(key);
    let left = false;
    for (const c of [0, 1]) if (c !== copy && this.inFlight.has(`${id}:${c}`)) left = true;
    if (!left) this.sent.delete(id);
  }

  private fingerprintLine(line: string): void {
    this.lines++;
    let a = this.fpA;
    let b = this.fpB;
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
    }
    this.fpA = Math.imul(a ^ 10, 0x01000193);
    this.fpB = Math.imul(b ^ 10, 0x5bd1e995);
  }
}

/** What a request told the client, for the history checker. */
function historyOf(o: ClientOpView, now: number): HistoryOp {
  const base = { clientId: `you${o.id}`, op: o.op, key: o.key, call: o.calledAt, ...(o.op === 'put' && { value: o.value }) };
  if (o.status === 'ok') return { ...base, return: o.returnedAt ?? now, status: 'ok', ...(o.op === 'get' && { output: o.result ?? null }) };
  // A read that failed had no effect, nor had a refused write; a lost or pending write may have.
  const refused = o.node === null || o.error?.startsWith('not the leader') === true || o.error?.startsWith('node down') === true;
  if (o.op === 'get' || (o.status === 'error' && refused)) return { ...base, return: o.returnedAt ?? now, status: 'fail' };
  return { ...base, status: 'unknown' };
}

function describeError(e: unknown): string {
  if (e instanceof NotLeaderError) return `not the leader${e.leader !== null ? ` (node ${e.leader} leads)` : ' (no leader known)'}`;
  if (e instanceof NodeDownError) return 'node down (connection refused)';
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** An action in words, as the trace and the page's log show it. */
export function describeAction(a: PlaygroundAction): string {
  switch (a.kind) {
    case 'crash':
    case 'restart':
    case 'pause':
    case 'resume':
    case 'isolate':
      return `${a.kind} node ${a.node}`;
    case 'cut':
    case 'heal':
      return `${a.kind} link ${a.from}${a.both ? '<>' : '>'}${a.to}`;
    case 'heal-all':
      return 'heal every link';
    case 'put':
      return `put(${JSON.stringify(a.key)}, ${JSON.stringify(a.value)}) via ${a.target === 'leader' ? 'the leader' : `node ${a.target}`}`;
    case 'get':
      return `get(${JSON.stringify(a.key)}) via ${a.target === 'leader' ? 'the leader' : `node ${a.target}`}`;
  }
}

// ---- sessions as text (the page's URL hash) ---------------------------------------------

const CODES = { crash: 'c', restart: 'r', pause: 'p', resume: 'u', isolate: 'i', cut: 'x', heal: 'h', 'heal-all': 'a', put: 'w', get: 'g' } as const;
const KINDS = new Map<string, PlaygroundAction['kind']>(Object.entries(CODES).map(([k, v]) => [v, k as PlaygroundAction['kind']]));

/**
 * A session as URL-safe text: `s=SEED&n=NODES&t=UNTIL&a=ACTIONS`, each action
 * `TIME~CODE~ARGS` (ARGS by `~`, keys and values percent-encoded), actions
 * separated by `.`. Times are written exactly (a number prints as the
 * shortest text that reads back as itself), so a link replays the same run.
 */
export function encodeSession(s: PlaygroundSession): string {
  const enc = (x: string): string => encodeURIComponent(x).replace(/~/g, '%7E').replace(/\./g, '%2E');
  const target = (t: ClientTarget): string => (t === 'leader' ? 'L' : String(t));
  const acts = s.actions.map(({ at, action: a }) => {
    const args: string[] = [];
    switch (a.kind) {
      case 'crash':
      case 'restart':
      case 'pause':
      case 'resume':
      case 'isolate':
        args.push(String(a.node));
        break;
      case 'cut':
      case 'heal':
        args.push(String(a.from), String(a.to), a.both ? 'b' : 'o');
        break;
      case 'heal-all':
        break;
      case 'put':
        args.push(target(a.target), enc(a.key), enc(a.value));
        break;
      case 'get':
        args.push(target(a.target), enc(a.key));
        break;
    }
    return [String(at).replace('.', '_'), CODES[a.kind], ...args].join('~');
  });
  return `s=${s.seed}&n=${s.nodes}&t=${String(s.until).replace('.', '_')}&a=${acts.join('.')}`;
}

/** Reads what {@link encodeSession} wrote; a {@link PlaygroundError} names what is wrong. */
export function decodeSession(text: string): PlaygroundSession {
  const params = new Map<string, string>();
  for (const part of text.replace(/^#/, '').split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) throw new PlaygroundError(`session link: '${part}' is not NAME=VALUE`);
    params.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const num = (name: string, what: string): number => {
    const v = params.get(name);
    if (v === undefined) throw new PlaygroundError(`session link: no ${name}= (${what})`);
    const x = Number(v.replace('_', '.'));
    if (!Number.isFinite(x) || x < 0) throw new PlaygroundError(`session link: ${name}=${v} is not a non-negative number (${what})`);
    return x;
  };
  const seed = num('s', 'the seed');
  if (!Number.isSafeInteger(seed)) throw new PlaygroundError(`session link: the seed ${seed} is not an integer`);
  const nodes = num('n', 'the number of nodes');
  if (!(PLAYGROUND_SIZES as readonly number[]).includes(nodes)) throw new PlaygroundError(`session link: n=${nodes}: the playground has 3, 5 or 7 nodes`);
  const until = params.has('t') ? num('t', 'the time reached') : 0;
  const raw = params.get('a') ?? '';
  const actions: TimedAction[] = [];
  let last = 0;
  for (const [i, item] of (raw === '' ? [] : raw.split('.')).entries()) {
    const where = `session link: action ${i + 1} ('${item}')`;
    const [t, code, ...args] = item.split('~');
    const at = Number((t ?? '').replace('_', '.'));
    if (t === undefined || t === '' || !Number.isFinite(at) || at < last) throw new PlaygroundError(`${where}: the time must be a number, not before the previous action's`);
    last = at;
    const kind = KINDS.get(code ?? '');
    if (kind === undefined) throw new PlaygroundError(`${where}: unknown action code '${code}'`);
    const id = (s: string | undefined, what: string): NodeId => {
      const x = Number(s);
      if (s === undefined || s === '' || !Number.isInteger(x) || x < 0 || x >= nodes) throw new PlaygroundError(`${where}: ${what} '${s}' is not a node of 0..${nodes - 1}`);
      return x;
    };
    const target = (s: string | undefined): ClientTarget => (s === 'L' ? 'leader' : id(s, 'the target'));
    const dec = (s: string | undefined, what: string): string => {
      if (s === undefined) throw new PlaygroundError(`${where}: no ${what}`);
      try {
        return decodeURIComponent(s);
      } catch {
        throw new PlaygroundError(`${where}: the ${what} is not percent-encoded text`);
      }
    };
    let action: PlaygroundAction;
    switch (kind) {
      case 'crash':
      case 'restart':
      case 'pause':
      case 'resume':
      case 'isolate':
        action = { kind, node: id(args[0], 'the node') };
        break;
      case 'cut':
      case 'heal':
        action = { kind, from: id(args[0], 'the link start'), to: id(args[1], 'the link end'), both: args[2] === 'b' };
        break;
      case 'heal-all':
        action = { kind };
        break;
      case 'put':
        action = { kind, target: target(args[0]), key: dec(args[1], 'key'), value: dec(args[2], 'value') };
        break;
      case 'get':
        action = { kind, target: target(args[0]), key: dec(args[1], 'key') };
        break;
    }
    actions.push({ at, action });
  }
  return { seed, nodes: nodes as PlaygroundSize, actions, until: Math.max(until, last) };
}
