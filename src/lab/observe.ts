/**
 * A lab test's run as the simulator's observer events (src/sim/observe.ts),
 * so the replay page draws a lab test with the same recording and view as a
 * simulated run: servers as nodes, each RPC on the lab network as a request
 * (from its send to the moment the server handled it) and a reply (from then
 * to its arrival), lost, unreachable and dead calls marked, the tester's
 * crashes, restarts, disconnections and partitions as faults and cut links,
 * clerks' calls as client operations. Shared by Node and the browser: plain
 * data, no DOM. Observing never changes the run: it only reads.
 */
import { MESSAGE_NAMES, describeMessage } from '../core/describe.js';
import { MessageType, type Message } from '../core/types.js';
import { LOG_TAIL, type ClientEvent, type NodeFrame, type SimObserver } from '../sim/observe.js';
import type { NodeStatus } from '../node/raft-node.js';
import type { NetEvent } from './labrpc.js';
import { describeReply, describeRequest } from './trace.js';

/** What the observer reads of one server: getState, and tsraft's own Raft's status when it has one. */
export interface ServerProbe {
  readonly term: number;
  readonly isLeader: boolean;
  /** tsraft's own Raft: its node's status (undefined for an implementation under test). */
  readonly status?: NodeStatus | undefined;
  /** tsraft's own Raft: the vote it holds in its term. */
  readonly vote?: number | null | undefined;
  /** tsraft's own Raft: the term of the entry at an index of its log (undefined if compacted or absent). */
  readonly termAt?: ((index: number) => number | undefined) | undefined;
}

/** Each server's probe, or null while it is crashed (shut down). */
export type ServerProber = () => readonly (ServerProbe | null)[];

/**
 * A request or a reply drawn on screen takes at least this long (virtual ms): on the
 * Raft tests' network an RPC is handled in the instant it is sent, which would draw nothing.
 */
export const MIN_FLIGHT_MS = 12;

type Fields = Record<string, unknown>;

interface PendingCall {
  readonly t: number;
  readonly from: number;
  readonly to: number;
  readonly method: string;
  readonly args: unknown;
  readonly name: string;
  readonly words: string;
  readonly type: number;
  readonly term: number;
  readonly entries: number;
  readonly clerk: string | undefined;
  /** The reply, once the server handled the call. */
  reply?: { t: number; name: string; words: string; type: number; term: number; ok: boolean | undefined; result: string };
}

function isCoreMessage(x: unknown): x is Message {
  return typeof x === 'object' && x !== null && typeof (x as Fields)['type'] === 'number' && 'term' in x && 'from' in x;
}

function field(o: unknown, ...names: string[]): unknown {
  if (o === null || typeof o !== 'object') return undefined;
  for (const n of names) {
    for (const k of [n, n[0]!.toUpperCase() + n.slice(1)]) if (k in o) return (o as Fields)[k];
  }
  return undefined;
}

/** A clerk's name (`C1`) as a node id of the drawing: clerks are -1, -2, ... */
export function clerkId(name: string): number | null {
  const m = /^C(\d+)$/.exec(name);
  return m === null ? null : -Number(m[1]);
}

/** The caller or callee of a lab RPC by its drawing id: servers by index, clerks negative. */
function partyId(name: string | null | undefined): number | null {
  if (name === null || name === undefined) return null;
  if (/^\d+$/.test(name)) return Number(name);
  return clerkId(name);
}

function who(id: number): string {
  return id < 0 ? `C${-id}` : `S${id}`;
}

/**
 * Turns a lab run's network events, tester actions and lines into
 * {@link SimObserver} events. Attach every tester config the test makes;
 * feed it {@link onNet}, {@link onTester} and {@link onLine}; call {@link finish} at the end.
 */
export class LabObserver {
  private servers = 0;
  private probe: ServerProber = () => [];
  private readonly frames = new Map<number, string>();
  private readonly calls = new Map<number, PendingCall>();
  /** Calls of configs made earlier in the test (their request numbers start again at 1). */
  private generation = 0;
  private nextId = 1;
  private connected: boolean[] = [];
  private cut = new Set<string>();
  private lastCuts = '';
  private readonly openClientOps = new Map<number, ClientEvent>();
  private now = 0;

  constructor(private readonly emit: SimObserver) {}

  /** A new tester config of `servers` servers, read through `probe`. */
  attach(servers: number, probe: ServerProber, at: number): void {
    this.servers = servers;
    this.probe = probe;
    this.generation++;
    this.calls.clear();
    this.connected = new Array<boolean>(servers).fill(true);
    this.cut = new Set();
    this.now = at;
    this.poll(at);
  }

  private key(netId: number): number {
    return this.generation * 1e9 + netId;
  }

  private trace(t: number, line: string): void {
    this.emit({ kind: 'trace', t, line });
  }

  /** A line the test printed (its title, the Passed line, warnings). */
  onLine(line: string, t: number): void {
    this.now = Math.max(this.now, t);
    this.trace(t, `tester: ${line.trim()}`);
  }

  /** One event of the lab network. */
  onNet(e: NetEvent): void {
    const t = e.time;
    this.now = Math.max(this.now, t);
    this.poll(t);
    const k = this.key(e.id);
    if (e.kind === 'send') {
      const from = partyId(e.from);
      const to = partyId(e.to);
      if (from === null || to === null) return;
      const core = isCoreMessage(e.args) ? e.args : null;
      const method = e.method.slice(e.method.lastIndexOf('.') + 1);
      const words = core !== null ? describeMessage(core) : describeRequest(e.method, e.args);
      const entries = core !== null ? (core.type === MessageType.App ? core.entries.length : 0) : arrayLength(field(e.args, 'entries', 'log'));
      const clerk = from < 0 ? who(from) : undefined;
      const call: PendingCall = {
        t,
        from,
        to,
        method: e.method,
        args: e.args,
        name: core !== null ? (MESSAGE_NAMES[core.type] ?? method) : method,
        words,
        type: core !== null ? core.type : -1,
        term: core !== null ? core.term : numberOr(field(e.args, 'term'), 0),
        entries,
        clerk,
      };
      this.calls.set(k, call);
      this.trace(t, `${who(from)} → ${who(to)} ${words}`);
      if (clerk !== undefined) {
        const op = clientOp(method, e.args);
        const ev: ClientEvent = { kind: 'client', t, phase: 'invoke', client: clerk, op: op.op, key: op.key, value: op.value, result: undefined, status: 'pending', node: null, callT: t };
        this.openClientOps.set(k, ev);
        this.emit(ev);
      }
      return;
    }
    const call = this.calls.get(k);
    if (call === undefined) return;
    switch (e.kind) {
      case 'unreachable':
        this.sendEvent(call, call.t, 'request');
        this.emit({ kind: 'drop', t, id: this.idOf(call, 'request'), copy: 0, reason: 'cut', atSend: true });
        this.trace(t, `✗ ${who(call.to)} unreachable from ${who(call.from)} (${call.name}): the link is cut or the server is down`);
        this.calls.delete(k);
        break;
      case 'request-lost':
        this.flight(call, 'request', call.t, t, 'loss');
        this.trace(t, `✗ ${call.name} ${who(call.from)} → ${who(call.to)} lost (unreliable network)`);
        this.calls.delete(k);
        break;
      case 'dead':
        this.flight(call, 'request', call.t, t, 'down');
        this.trace(t, `✗ ${who(call.to)} gives ${who(call.from)} no reply to ${call.name} (crashed or cut while handling it)`);
        this.calls.delete(k);
        break;
      case 'handled': {
        this.flight(call, 'request', call.t, t, null);
        const core = isCoreMessage(e.reply) ? e.reply : null;
        const words = core !== null ? describeMessage(core) : describeReply(call.method, call.args, e.reply, who(call.from));
        call.reply = {
          t,
          name: core !== null ? (MESSAGE_NAMES[core.type] ?? `${call.name}Reply`) : `${call.name}Reply`,
          words,
          type: core !== null ? core.type : -1,
          term: core !== null ? core.term : numberOr(field(e.reply, 'term'), 0),
          ok: core !== null ? coreOk(core) : replyOk(e.reply),
          result: JSON.stringify(e.reply) ?? 'null',
        };
        this.trace(t, `${who(call.to)} → ${who(call.from)} ${words}`);
        break;
      }
      case 'reply-lost':
        if (call.reply !== undefined) this.flight(call, 'reply', call.reply.t, t, 'loss');
        this.trace(t, `✗ ${call.reply?.name ?? 'reply'} ${who(call.to)} → ${who(call.from)} lost (unreliable network)`);
        this.calls.delete(k);
        break;
      case 'reply': {
        if (call.reply !== undefined) this.flight(call, 'reply', call.reply.t, t, null);
        const open = this.openClientOps.get(k);
        if (open !== undefined) {
          this.openClientOps.delete(k);
          this.emit({ ...open, t, phase: 'return', result: call.reply?.result, status: 'ok', node: call.to });
        }
        this.calls.delete(k);
        break;
      }
    }
  }

  /** What the tester did to server `server` (Config / KvConfig `noteTester`). */
  onTester(time: number, server: number, what: string): void {
    this.now = Math.max(this.now, time);
    this.poll(time);
    this.trace(time, `tester: S${server} ${what}`);
    if (what === 'crashed' || what === 'shut down') {
      this.emit({ kind: 'fault', t: time, fault: 'crash', node: server, detail: what });
      if (what === 'shut down') this.isolate(server);
    } else if (what === 'started from its persisted state' || what === 'restarted') {
      this.emit({ kind: 'fault', t: time, fault: 'restart', node: server, detail: what });
      if (what === 'restarted') this.isolate(server);
    } else if (what === 'disconnected') {
      this.connected[server] = false;
      this.isolate(server);
    } else if (what === 'connected') {
      this.connected[server] = true;
      for (let j = 0; j < this.servers; j++) {
        if (j === server || !this.connected[j]) continue;
        this.cut.delete(`${server}>${j}`);
        this.cut.delete(`${j}>${server}`);
      }
    } else if (what === 'connected to all') {
      this.connected.fill(true);
      this.cut.clear();
    } else if (what.startsWith('partitioned: ')) {
      const groups = [...what.matchAll(/\{([\d,]*)\}/g)].map((m) => (m[1] === '' ? [] : m[1]!.split(',').map(Number)));
      const group = new Map<number, number>();
      groups.forEach((g, gi) => g.forEach((s) => group.set(s, gi)));
      this.cut.clear();
      for (let a = 0; a < this.servers; a++) {
        for (let b = 0; b < this.servers; b++) if (a !== b && group.get(a) !== group.get(b)) this.cut.add(`${a}>${b}`);
      }
    }
    this.emitCuts(time, what.startsWith('partitioned: ') ? what.slice('partitioned: '.length) : `S${server} ${what}`);
  }

  /** The run ended at `t`: calls still on the wire stay in flight to the end; last frames. */
  finish(t: number): void {
    this.now = Math.max(this.now, t);
    this.poll(this.now);
    for (const call of this.calls.values()) {
      if (call.reply === undefined) {
        this.sendEvent(call, call.t, 'request');
        this.emit({ kind: 'schedule', t: call.t, id: this.idOf(call, 'request'), copy: 0, arriveAt: Math.max(this.now, call.t + MIN_FLIGHT_MS) });
      } else {
        this.sendEvent(call, call.reply.t, 'reply');
        this.emit({ kind: 'schedule', t: call.reply.t, id: this.idOf(call, 'reply'), copy: 0, arriveAt: Math.max(this.now, call.reply.t + MIN_FLIGHT_MS) });
      }
    }
    this.calls.clear();
  }

  private isolate(server: number): void {
    for (let j = 0; j < this.servers; j++) {
      if (j === server) continue;
      this.cut.add(`${server}>${j}`);
      this.cut.add(`${j}>${server}`);
    }
  }

  private emitCuts(t: number, name: string): void {
    const cuts = [...this.cut].map((s) => s.split('>').map(Number) as [number, number]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const key = JSON.stringify(cuts);
    if (key === this.lastCuts) return;
    this.lastCuts = key;
    this.emit({ kind: 'cuts', t, cuts, name: cuts.length === 0 ? `healed (${name})` : name });
  }

  private readonly ids = new WeakMap<PendingCall, { request: number; reply: number }>();

  private idOf(call: PendingCall, part: 'request' | 'reply'): number {
    let ids = this.ids.get(call);
    if (ids === undefined) {
      ids = { request: this.nextId++, reply: this.nextId++ };
      this.ids.set(call, ids);
    }
    return ids[part];
  }

  private sendEvent(call: PendingCall, t: number, part: 'request' | 'reply'): void {
    const r = part === 'reply' ? call.reply! : undefined;
    this.emit({
      kind: 'send',
      t: part === 'request' ? call.t : t,
      id: this.idOf(call, part),
      from: part === 'request' ? call.from : call.to,
      to: part === 'request' ? call.to : call.from,
      type: r?.type ?? call.type,
      name: r?.name ?? call.name,
      words: r?.words ?? call.words,
      term: r?.term ?? call.term,
      ok: r?.ok,
      entries: part === 'request' ? call.entries : 0,
    });
  }

  /** A request or reply on the wire from `depart` to `arrive`, delivered (lost: null reason) or lost. */
  private flight(call: PendingCall, part: 'request' | 'reply', depart: number, arrive: number, lost: 'loss' | 'down' | null): void {
    this.sendEvent(call, depart, part);
    const id = this.idOf(call, part);
    const at = Math.max(arrive, depart + MIN_FLIGHT_MS);
    this.emit({ kind: 'schedule', t: depart, id, copy: 0, arriveAt: at });
    if (lost === null) this.emit({ kind: 'deliver', t: at, id, copy: 0, bytes: 0 });
    else this.emit({ kind: 'drop', t: at, id, copy: 0, reason: lost, atSend: false });
  }

  /** Each server's frame, emitted when it changed. */
  private poll(t: number): void {
    let probes: readonly (ServerProbe | null)[];
    try {
      probes = this.probe();
    } catch {
      return; // an implementation's getState not written yet: nothing to draw
    }
    const voters = Array.from({ length: this.servers }, (_, i) => i);
    for (let i = 0; i < this.servers; i++) {
      const frame = nodeFrame(i, probes[i] ?? null, voters);
      const key = JSON.stringify(frame);
      if (this.frames.get(i) === key) continue;
      this.frames.set(i, key);
      this.emit({ kind: 'node', t, node: frame });
    }
  }
}

/** A server's probe from its getState and whatever tsraft's own Raft offers besides. */
export function probeOf(state: { term: number; isLeader: boolean }, rf: { status?(): NodeStatus | undefined; vote?(): number | null; entryAt?(index: number): { term: number } | undefined }): ServerProbe {
  const status = rf.status?.();
  return { term: state.term, isLeader: state.isLeader, status, vote: rf.vote?.(), termAt: rf.entryAt === undefined ? undefined : (k) => rf.entryAt!(k)?.term };
}

function nodeFrame(id: number, p: ServerProbe | null, voters: readonly number[]): NodeFrame {
  const none = { commit: null, applied: null, lastIndex: null, snapIndex: null, tailFirst: 1, tailTerms: [] as number[] };
  if (p === null) return { id, status: 'down', paused: false, removed: false, role: null, term: null, vote: null, leader: null, voters, learners: [], outgoing: [], ...none };
  const s = p.status;
  if (s === undefined) {
    return { id, status: 'up', paused: false, removed: false, role: p.isLeader ? 'leader' : 'follower', term: p.term, vote: p.vote ?? null, leader: p.isLeader ? id : null, voters, learners: [], outgoing: [], ...none };
  }
  const tailFirst = Math.max(s.snapshotIndex + 1, s.lastIndex - LOG_TAIL + 1, 1);
  const tailTerms: number[] = [];
  for (let k = tailFirst; k <= s.lastIndex; k++) tailTerms.push(p.termAt?.(k) ?? 0);
  return {
    id,
    status: 'up',
    paused: false,
    removed: false,
    role: s.role,
    term: s.term,
    vote: p.vote ?? null,
    leader: s.leader,
    commit: s.commitIndex,
    applied: s.appliedIndex,
    lastIndex: s.lastIndex,
    snapIndex: s.snapshotIndex,
    voters,
    learners: [],
    outgoing: [],
    tailFirst,
    tailTerms,
  };
}

function coreOk(m: Message): boolean | undefined {
  if (m.type === MessageType.VoteResp || m.type === MessageType.PreVoteResp) return m.granted;
  if (m.type === MessageType.AppResp) return m.success;
  return undefined;
}

function replyOk(r: unknown): boolean | undefined {
  const granted = field(r, 'voteGranted', 'granted', 'success');
  if (typeof granted === 'boolean') return granted;
  const err = field(r, 'err');
  return typeof err === 'string' ? err === 'OK' || err === 'ErrNoKey' : undefined;
}

function clientOp(method: string, args: unknown): { op: ClientEvent['op']; key: string; value: string | undefined } {
  const key = String(field(args, 'key') ?? '');
  if (method === 'Get') return { op: 'get', key, value: undefined };
  const value = field(args, 'value');
  return { op: field(args, 'op') === 'Put' ? 'put' : 'append', key, value: typeof value === 'string' ? value : undefined };
}

function arrayLength(x: unknown): number {
  return Array.isArray(x) ? x.length : 0;
}

function numberOr(x: unknown, d: number): number {
  return typeof x === 'number' ? x : d;
}
