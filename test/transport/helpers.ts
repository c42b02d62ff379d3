import { pino } from 'pino';
import { EntryType, MessageType, type Message, type NodeId } from '../../src/core/types.js';
import type { Logger } from '../../src/util/log.js';
import { TcpTransport, type TcpTransportOptions } from '../../src/transport/tcp.js';
import { SeededRandom } from '../../src/util/random.js';

/** Deterministic bytes, so a corrupted or reordered payload cannot compare equal by accident. */
export function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** One message of every type from `from` to `to`; `seed` varies the contents. */
export function oneOfEach(from: NodeId, to: NodeId, seed = 1, snapBytes = 1000): Message[] {
  const term = 5 + seed;
  return [
    { type: MessageType.Vote, term, from, to, lastIndex: 10 + seed, lastTerm: 4 },
    { type: MessageType.VoteResp, term, from, to, granted: seed % 2 === 0 },
    {
      type: MessageType.App,
      term,
      from,
      to,
      prevIndex: 7,
      prevTerm: 3,
      entries: [
        { index: 8, term: 3, type: EntryType.Normal, data: pattern(17, seed) },
        { index: 9, term: 4, type: EntryType.Noop, data: new Uint8Array(0) },
        { index: 10, term, type: EntryType.Normal, data: pattern(300, seed + 1) },
      ],
      commit: 8,
    },
    { type: MessageType.App, term, from, to, prevIndex: 0, prevTerm: 0, entries: [], commit: 0 },
    { type: MessageType.AppResp, term, from, to, success: true, index: 10, hintTerm: 0, hintIndex: 0 },
    { type: MessageType.AppResp, term, from, to, success: false, index: 7, hintTerm: 2, hintIndex: 5 },
    { type: MessageType.Heartbeat, term, from, to, commit: 9, ctx: seed },
    { type: MessageType.HeartbeatResp, term, from, to, ctx: seed },
    { type: MessageType.Snap, term, from, to, meta: { index: 100, term: 4 }, offset: 0, data: pattern(snapBytes, seed + 2), size: snapBytes + 10 },
    { type: MessageType.SnapResp, term, from, to, snapIndex: 100, offset: 1000, done: false, index: 0 },
    { type: MessageType.SnapResp, term, from, to, snapIndex: 100, offset: 1010, done: true, index: 100 },
    { type: MessageType.ReadIndex, term, from, to, ctx: 42 + seed },
    { type: MessageType.ReadIndex, term, from, to, ctx: 44 + seed, lease: true },
    { type: MessageType.ReadIndexResp, term, from, to, ctx: 42 + seed, index: 99 },
    { type: MessageType.ReadIndexResp, term, from, to, ctx: 43 + seed, index: -1 },
    { type: MessageType.Prop, term, from, to, data: [pattern(40, seed + 3), new Uint8Array(0)] },
    { type: MessageType.PreVote, term: term + 1, from, to, lastIndex: 12, lastTerm: term },
    { type: MessageType.PreVoteResp, term, from, to, granted: seed % 2 === 0 },
    { type: MessageType.Vote, term, from, to, lastIndex: 10 + seed, lastTerm: 4, transfer: true },
    { type: MessageType.TimeoutNow, term, from, to, lastIndex: 20 + seed },
    {
      type: MessageType.Snap,
      term,
      from,
      to,
      meta: { index: 100, term: 4, conf: { voters: [1, 2, 3], outgoing: [1, 2, 4], learners: [5], context: { '5': `{"name":"n5","seed":${seed}}` } } },
      offset: 0,
      data: pattern(20, seed + 4),
      size: 20,
    },
  ];
}

/** A heartbeat whose `ctx` tells messages apart (for ordering and drop checks). */
export function heartbeat(from: NodeId, to: NodeId, ctx: number): Message {
  return { type: MessageType.Heartbeat, term: 1, from, to, commit: 0, ctx };
}

/** A pino logger whose lines are collected as parsed objects. */
export interface CapturedLog {
  readonly logger: Logger;
  readonly lines: Record<string, unknown>[];
  /** Lines at `level` or above ('warn' = 40, 'error' = 50) whose msg matches. */
  find(level: 'warn' | 'error', re: RegExp): Record<string, unknown>[];
}

export function captureLog(): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  // A bare destination object: pino calls write() synchronously, so lines are visible as soon as a log call returns.
  const stream = {
    write(s: string): void {
      for (const l of s.split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
    },
  };
  const logger = pino({ level: 'debug' }, stream);
  return {
    logger,
    lines,
    find: (level, re) => lines.filter((l) => (l['level'] as number) >= (level === 'warn' ? 40 : 50) && re.test(String(l['msg']))),
  };
}

/** Polls `cond` until it holds, or fails after `timeoutMs` with `what`. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A transport under test, what it delivered, and its log. */
export interface TestMember {
  readonly t: TcpTransport;
  readonly got: Message[];
  readonly log: CapturedLog;
}

/** Starts one transport on a free local port with fast reconnects, recording what it receives and logs. */
export async function startMember(nodeId: NodeId, opts: Partial<TcpTransportOptions> = {}): Promise<TestMember> {
  const got: Message[] = [];
  const log = captureLog();
  const t = await TcpTransport.start({
    clusterId: 'test',
    nodeId,
    listen: { host: '127.0.0.1', port: 0 },
    peers: new Map(),
    onMessage: (m) => got.push(m),
    logger: log.logger,
    random: new SeededRandom(nodeId),
    // Fast retries keep the tests quick.
    reconnectMinMs: 10,
    reconnectMaxMs: 100,
    ...opts,
  });
  return { t, got, log };
}
