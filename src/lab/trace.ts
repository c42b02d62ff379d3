/**
 * Readable traces of a lab test, in the manner of the 6.824 TAs' "Debugging
 * by Pretty Printing": one column per server, time first, each event in
 * words in the column of the server it happens on:
 *
 *     time  │ S0                         │ S1                         │ S2
 *    0.452  │ term 1, candidate          │                            │
 *    0.452  │ → S1 RequestVote t1 last 0@0 │                          │
 *    0.455  │                            │ grants vote t1 to S0       │
 *
 * It reads only what the tester carries (the RPCs on the lab network and
 * each server's getState), so it works for any implementation under test.
 */
import { describeMessage } from '../core/describe.js';
import { MessageType, type Message } from '../core/types.js';
import type { NetEvent } from './labrpc.js';

/** What the tracer polls for role changes: each server's getState, or null while it is down. */
export type StateProbe = () => readonly ({ term: number; isLeader: boolean } | null)[];

const TIME_WIDTH = 9;

type Fields = Record<string, unknown>;

/** A field by any of its usual spellings (term / Term, xTerm / XTerm / conflictTerm). */
function field(o: Fields, ...names: string[]): unknown {
  for (const n of names) {
    for (const k of [n, n[0]!.toUpperCase() + n.slice(1), n.toLowerCase()]) if (k in o) return o[k];
  }
  return undefined;
}

function num(o: Fields, ...names: string[]): number | undefined {
  const v = field(o, ...names);
  return typeof v === 'number' ? v : undefined;
}

function isCoreMessage(x: unknown): x is Message {
  return typeof x === 'object' && x !== null && typeof (x as Fields)['type'] === 'number' && 'from' in x && 'to' in x && 'term' in x;
}

function short(v: unknown, n = 16): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function generic(name: string, o: unknown): string {
  if (o === null || typeof o !== 'object') return `${name} ${short(o, 30)}`;
  const parts = Object.entries(o as Fields).map(([k, v]) => `${k} ${Array.isArray(v) ? `[${v.length}]` : short(v, 12)}`);
  return `${name}(${parts.join(', ')})`;
}

/** A request in words: `RequestVote t4 last 7@3`, `AppendEntries t4 prev 7@3 [8..12] commit 7`, `Get "k"`. */
export function describeRequest(method: string, args: unknown): string {
  const name = method.slice(method.lastIndexOf('.') + 1);
  if (isCoreMessage(args)) return describeMessage(args);
  if (args === null || typeof args !== 'object') return generic(name, args);
  const a = args as Fields;
  const term = num(a, 'term');
  const t = term === undefined ? '' : ` t${term}`;
  if (/vote/i.test(name)) {
    const li = num(a, 'lastLogIndex', 'lastIndex');
    const lt = num(a, 'lastLogTerm', 'lastTerm');
    return `${name}${t}${li !== undefined ? ` last ${li}@${lt ?? '?'}` : ''}`;
  }
  if (/append/i.test(name) && name !== 'PutAppend') {
    const pi = num(a, 'prevLogIndex', 'prevIndex');
    const pt = num(a, 'prevLogTerm', 'prevTerm');
    const entries = field(a, 'entries', 'log');
    const n = Array.isArray(entries) ? entries.length : 0;
    const commit = num(a, 'leaderCommit', 'commit', 'commitIndex');
    const prev = pi !== undefined ? ` prev ${pi}@${pt ?? '?'}` : '';
    const range = pi === undefined || n === 0 ? '' : n === 1 ? ` [${pi + 1}]` : ` [${pi + 1}..${pi + n}]`;
    return `${n === 0 ? 'heartbeat' : name}${t}${prev}${range}${commit !== undefined ? ` commit ${commit}` : ''}`;
  }
  if (/snapshot/i.test(name)) {
    const li = num(a, 'lastIncludedIndex', 'snapshotIndex', 'index');
    const lt = num(a, 'lastIncludedTerm', 'snapshotTerm');
    return `${name}${t}${li !== undefined ? ` through ${li}@${lt ?? '?'}` : ''}`;
  }
  if (name === 'Get') return `Get ${short(field(a, 'key'))}`;
  if (name === 'PutAppend') return `${String(field(a, 'op') ?? 'PutAppend')} ${short(field(a, 'key'))}=${short(field(a, 'value'))}`;
  return generic(name, args);
}

/** A reply in words, from the server that gives it: `grants vote t4 to S1`, `rejects AppendEntries from S0: conflict term 3 at 5`. */
export function describeReply(method: string, args: unknown, reply: unknown, caller: string): string {
  const name = method.slice(method.lastIndexOf('.') + 1);
  if (isCoreMessage(reply)) return describeCoreReply(reply, caller);
  if (reply === null || typeof reply !== 'object') return `→ ${caller} ${name}: ${short(reply, 30)}`;
  const r = reply as Fields;
  const a = (args ?? {}) as Fields;
  const term = num(r, 'term');
  const askedTerm = num(a, 'term');
  if (/vote/i.test(name)) {
    const granted = field(r, 'voteGranted', 'granted');
    if (granted === true) return `grants vote t${term ?? askedTerm ?? '?'} to ${caller}`;
    const why = term !== undefined && askedTerm !== undefined && term > askedTerm ? ` (its term t${term} > t${askedTerm})` : '';
    return `refuses vote t${askedTerm ?? '?'} to ${caller}${why}`;
  }
  if (/append/i.test(name) && name !== 'PutAppend') {
    const entries = field(a, 'entries', 'log');
    const what = Array.isArray(entries) && entries.length > 0 ? 'AppendEntries' : 'heartbeat';
    if (field(r, 'success', 'ok') === true) return `accepts ${what} from ${caller}`;
    if (term !== undefined && askedTerm !== undefined && term > askedTerm) return `rejects ${what} from ${caller}: stale term t${askedTerm} < t${term}`;
    const xTerm = num(r, 'xTerm', 'conflictTerm');
    const xIndex = num(r, 'xIndex', 'conflictIndex', 'firstIndex');
    const xLen = num(r, 'xLen', 'logLength', 'len');
    if (xTerm !== undefined && xTerm >= 0 && xIndex !== undefined) return `rejects ${what} from ${caller}: conflict term ${xTerm} at ${xIndex}`;
    if (xLen !== undefined) return `rejects ${what} from ${caller}: log too short (len ${xLen})`;
    const pi = num(a, 'prevLogIndex', 'prevIndex');
    const pt = num(a, 'prevLogTerm', 'prevTerm');
    return `rejects ${what} from ${caller}${pi !== undefined ? `: no entry ${pi}@${pt ?? '?'}` : ''}`;
  }
  if (/snapshot/i.test(name)) return `answers ${name} from ${caller}${term !== undefined ? ` (t${term})` : ''}`;
  const err = field(r, 'err');
  if (typeof err === 'string') {
    const value = field(r, 'value');
    return `→ ${caller} ${name} ${err}${err === 'OK' && typeof value === 'string' ? ` ${short(value)}` : ''}`;
  }
  return `→ ${caller} ${generic(name, reply)}`;
}

/** tsraft's own replies in the same words as a learner's. */
function describeCoreReply(m: Message, caller: string): string {
  switch (m.type) {
    case MessageType.VoteResp:
      return `${m.granted ? 'grants' : 'refuses'} vote t${m.term} to ${caller}`;
    case MessageType.PreVoteResp:
      return `${m.granted ? 'grants' : 'refuses'} pre-vote t${m.term} to ${caller}`;
    case MessageType.AppResp:
      return m.success ? `accepts AppendEntries from ${caller}, match ${m.index}` : `rejects AppendEntries from ${caller}: no entry ${m.index}, hint ${m.hintIndex}@${m.hintTerm}`;
    case MessageType.HeartbeatResp:
      return `accepts heartbeat from ${caller}`;
    default:
      return `→ ${caller} ${describeMessage(m)}`;
  }
}

/**
 * Prints a lab test's events in columns, one per server. Attach each config
 * the test makes ({@link attach}) and feed it the network's events ({@link onNet}).
 */
export class LabTracer {
  private servers = 0;
  private headerDue = false;
  private probe: StateProbe = () => [];
  private last: ({ term: number; isLeader: boolean } | null)[] = [];
  private readonly pending = new Map<number, unknown>();

  constructor(
    private readonly out: (line: string) => void,
    private readonly width = 38,
  ) {}

  /** A new config of `servers` servers: prints the header, and polls `probe` for role changes from now on. */
  attach(servers: number, probe: StateProbe): void {
    this.servers = servers;
    this.probe = probe;
    this.last = new Array<{ term: number; isLeader: boolean } | null>(servers).fill(null);
    this.headerDue = true; // printed with the first event, after the test's title
  }

  /** Something the tester did to server i (crash, restart, disconnect, ...). */
  onTester(time: number, server: number, what: string): void {
    this.pollStates(time);
    this.line(time, server, `tester: ${what}`);
  }

  /** Feeds one network event (RunOptions.trace / HarnessRuntime.trace). */
  onNet(e: NetEvent): void {
    this.pollStates(e.time);
    const from = e.from !== undefined && /^\d+$/.test(e.from) ? Number(e.from) : null;
    const to = e.to !== null && /^\d+$/.test(e.to) ? Number(e.to) : null;
    const caller = from !== null ? `S${from}` : (e.from ?? '?');
    switch (e.kind) {
      case 'send':
        this.pending.set(e.id, e.args);
        if (from !== null) this.line(e.time, from, `→ S${to ?? '?'} ${describeRequest(e.method, e.args)}`);
        else if (to !== null) this.line(e.time, to, `${caller} → ${describeRequest(e.method, e.args)}`);
        break;
      case 'unreachable':
        this.pending.delete(e.id);
        if (from !== null) this.line(e.time, from, `✗ S${to ?? '?'} unreachable (${e.method.slice(e.method.lastIndexOf('.') + 1)})`);
        break;
      case 'request-lost':
        this.pending.delete(e.id);
        if (from !== null) this.line(e.time, from, `✗ ${e.method.slice(e.method.lastIndexOf('.') + 1)} to S${to ?? '?'} lost`);
        break;
      case 'dead':
        this.pending.delete(e.id);
        if (to !== null) this.line(e.time, to, `✗ no reply to ${caller} (down or cut)`);
        break;
      case 'handled':
        if (to !== null) this.line(e.time, to, describeReply(e.method, this.pending.get(e.id), e.reply, caller));
        this.pending.delete(e.id);
        break;
      case 'reply-lost':
        if (to !== null) this.line(e.time, to, `✗ reply to ${caller} lost`);
        break;
      case 'reply':
        break; // what it said was printed when the server answered
    }
  }

  /** Role and term changes since the last look, in the column of the server that changed. */
  private pollStates(time: number): void {
    let states: readonly ({ term: number; isLeader: boolean } | null)[];
    try {
      states = this.probe();
    } catch {
      return; // a getState not written yet: nothing to show
    }
    for (let i = 0; i < this.servers; i++) {
      const s = states[i] ?? null;
      const before = this.last[i] ?? null;
      if (s === null) {
        if (before !== null) this.line(time, i, 'down');
      } else if (before === null) {
        this.line(time, i, `up: term ${s.term}${s.isLeader ? ', leader' : ''}`);
      } else if (s.isLeader && (!before.isLeader || s.term !== before.term)) {
        this.line(time, i, `leader t${s.term}`);
      } else if (s.term !== before.term) {
        this.line(time, i, `term ${s.term}${before.isLeader ? ', no longer leader' : ''}`);
      } else if (before.isLeader && !s.isLeader) {
        this.line(time, i, 'no longer leader');
      }
      this.last[i] = s;
    }
  }

  private cell(text: string): string {
    return text.length > this.width ? `${text.slice(0, this.width - 1)}…` : text.padEnd(this.width);
  }

  private line(time: number, column: number, text: string): void {
    if (this.headerDue) {
      this.headerDue = false;
      const head = Array.from({ length: this.servers }, (_, i) => this.cell(`S${i}`));
      this.out(`${'time'.padStart(TIME_WIDTH)} │ ${head.join(' │ ').trimEnd()}`);
    }
    const cells: string[] = [];
    for (let i = 0; i <= Math.max(column, this.servers - 1); i++) cells.push(i === column ? this.cell(text) : ' '.repeat(this.width));
    this.out(`${(time / 1000).toFixed(3).padStart(TIME_WIDTH)} │ ${cells.join(' │ ').trimEnd()}`);
  }
}
