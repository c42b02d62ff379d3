import type { ClientEvent, CutsEvent, EndEvent, FailureEvent, FaultEvent, MembershipEvent, NodeFrame, SimEvent } from '../../sim/observe.js';

/** One copy of a message on the wire, from its departure to its fate. */
export interface Flight {
  readonly id: number;
  readonly copy: number;
  readonly from: number;
  readonly to: number;
  readonly name: string;
  readonly words: string;
  readonly type: number;
  readonly ok: boolean | undefined;
  readonly entries: number;
  /** The second copy of a duplicated message. */
  readonly dup: boolean;
  readonly depart: number;
  readonly arrive: number;
  /** `deliver`: the receiver got it; `drop`: lost on arrival (cut link, receiver down); `hold`: it waits in a paused node's buffer. */
  fate: 'deliver' | 'drop' | 'hold' | 'pending';
  reason: string;
}

/** A message lost at send (cut link or random loss): drawn as a stub at its sender. */
export interface DropMark {
  readonly id: number;
  readonly from: number;
  readonly to: number;
  readonly words: string;
  readonly t: number;
  readonly reason: string;
}

/** A client operation from invocation to return (`ret` null: never answered). */
export interface ClientOp {
  readonly client: string;
  readonly op: ClientEvent['op'];
  readonly key: string;
  readonly value: string | undefined;
  readonly call: number;
  ret: number | null;
  result: string | undefined;
  node: number | null;
}

/** A mark on the timeline. */
export interface TimelineMark {
  readonly t: number;
  readonly kind: 'fault' | 'leader' | 'membership' | 'partition' | 'failure';
  readonly text: string;
}

const BUCKET_MS = 50;

/**
 * Everything a run's observer reported, indexed by virtual time so that any
 * moment can be drawn directly: seeking backwards is a lookup, not a re-run.
 */
export class Recording {
  readonly nodeIds: number[] = [];
  private readonly frameTimes = new Map<number, number[]>();
  private readonly frameList = new Map<number, NodeFrame[]>();
  readonly flights: Flight[] = [];
  private readonly flightByCopy = new Map<number, Flight>();
  private readonly pendingSend = new Map<number, { from: number; to: number; name: string; words: string; type: number; ok: boolean | undefined; entries: number; dup: boolean }>();
  /** Flights by the time buckets they cross. */
  private readonly buckets: Flight[][] = [];
  readonly drops: DropMark[] = [];
  readonly cuts: CutsEvent[] = [];
  readonly faults: FaultEvent[] = [];
  readonly membership: MembershipEvent[] = [];
  readonly clientOps: ClientOp[] = [];
  readonly clients: string[] = [];
  private readonly openOps = new Map<string, ClientOp>();
  readonly traceTimes: number[] = [];
  readonly traceLines: string[] = [];
  readonly marks: TimelineMark[] = [];
  failure: FailureEvent | null = null;
  end: EndEvent | null = null;
  /** Messages sent. */
  sent = 0;
  /** Callers that are not nodes (a lab test's clerks: -1 for C1, -2 for C2, ...), in the order first seen. */
  readonly clerkIds: number[] = [];
  private lastLeader = new Map<number, string>();

  /** Takes one observer event (in the order the run produced them). */
  add(e: SimEvent): void {
    switch (e.kind) {
      case 'send':
        this.sent++;
        for (const id of [e.from, e.to]) if (id < 0 && !this.clerkIds.includes(id)) this.clerkIds.push(id);
        this.pendingSend.set(e.id, { from: e.from, to: e.to, name: e.name, words: e.words, type: e.type, ok: e.ok, entries: e.entries, dup: false });
        break;
      case 'dup': {
        const s = this.pendingSend.get(e.id);
        if (s !== undefined) s.dup = true;
        break;
      }
      case 'schedule': {
        const s = this.pendingSend.get(e.id);
        if (s === undefined) break;
        const f: Flight = { id: e.id, copy: e.copy, from: s.from, to: s.to, name: s.name, words: s.words, type: s.type, ok: s.ok, entries: s.entries, dup: s.dup && e.copy === 1, depart: e.t, arrive: e.arriveAt, fate: 'pending', reason: '' };
        this.flights.push(f);
        this.flightByCopy.set(e.id * 2 + e.copy, f);
        this.index(f);
        break;
      }
      case 'drop': {
        if (e.atSend) {
          const s = this.pendingSend.get(e.id);
          if (s !== undefined) this.drops.push({ id: e.id, from: s.from, to: s.to, words: s.words, t: e.t, reason: e.reason });
          break;
        }
        const f = this.flightByCopy.get(e.id * 2 + e.copy);
        if (f !== undefined && f.fate === 'pending') {
          f.fate = 'drop';
          f.reason = e.reason;
        } else if (f !== undefined && f.fate === 'hold') {
          f.reason = 'its receiver went down while it waited';
        }
        break;
      }
      case 'hold': {
        const f = this.flightByCopy.get(e.id * 2 + e.copy);
        if (e.side === 'in' && f !== undefined) f.fate = 'hold';
        break;
      }
      case 'deliver': {
        const f = this.flightByCopy.get(e.id * 2 + e.copy);
        if (f !== undefined && f.fate === 'pending') f.fate = 'deliver';
        break;
      }
      case 'node': {
        const id = e.node.id;
        let times = this.frameTimes.get(id);
        if (times === undefined) {
          times = [];
          this.frameTimes.set(id, times);
          this.frameList.set(id, []);
          this.nodeIds.push(id);
          this.nodeIds.sort((a, b) => a - b);
        }
        times.push(e.t);
        this.frameList.get(id)!.push(e.node);
        const lead = e.node.role === 'leader' ? `t${e.node.term}` : '';
        if (lead !== '' && this.lastLeader.get(id) !== lead) this.marks.push({ t: e.t, kind: 'leader', text: `node ${id} leads term ${e.node.term}` });
        this.lastLeader.set(id, lead);
        break;
      }
      case 'cuts':
        this.cuts.push(e);
        this.marks.push({ t: e.t, kind: 'partition', text: `partition ${e.name}` });
        break;
      case 'fault':
        this.faults.push(e);
        if (e.fault !== 'up' && e.fault !== 'resume' && e.fault !== 'restart') this.marks.push({ t: e.t, kind: 'fault', text: e.node === null ? e.detail : `node ${e.node}: ${e.detail}` });
        break;
      case 'membership':
        this.membership.push(e);
        this.marks.push({ t: e.t, kind: 'membership', text: e.detail });
        break;
      case 'client': {
        const k = `${e.client}@${e.callT}`;
        if (e.phase === 'invoke') {
          const op: ClientOp = { client: e.client, op: e.op, key: e.key, value: e.value, call: e.t, ret: null, result: undefined, node: null };
          this.clientOps.push(op);
          this.openOps.set(k, op);
          if (!this.clients.includes(e.client)) this.clients.push(e.client);
        } else {
          const op = this.openOps.get(k);
          if (op !== undefined) {
            op.ret = e.t;
            op.result = e.result;
            op.node = e.node;
            this.openOps.delete(k);
          }
        }
        break;
      }
      case 'trace':
        this.traceTimes.push(e.t);
        this.traceLines.push(e.line);
        break;
      case 'failure':
        if (this.failure === null) {
          this.failure = e;
          this.marks.push({ t: e.t, kind: 'failure', text: `FAILED ${e.check}: ${e.message}` });
        }
        break;
      case 'end':
        this.end = e;
        break;
    }
  }

  private index(f: Flight): void {
    const a = Math.floor(f.depart / BUCKET_MS);
    const b = Math.floor(f.arrive / BUCKET_MS);
    for (let i = a; i <= b; i++) (this.buckets[i] ??= []).push(f);
  }

  /** How long the run lasted (ms of virtual time). */
  get duration(): number {
    return Math.max(this.end?.t ?? 0, this.traceTimes.at(-1) ?? 0);
  }

  /** Each node's frame in force at `t` (nodes not yet started are left out). */
  framesAt(t: number): NodeFrame[] {
    const out: NodeFrame[] = [];
    for (const id of this.nodeIds) {
      const i = lastAtOrBefore(this.frameTimes.get(id)!, t);
      if (i >= 0) out.push(this.frameList.get(id)![i]!);
    }
    return out;
  }

  /** The copies on the wire at `t`. */
  flightsAt(t: number): Flight[] {
    const b = this.buckets[Math.floor(t / BUCKET_MS)];
    if (b === undefined) return [];
    return b.filter((f) => f.depart <= t && t < f.arrive);
  }

  /** Messages lost at send within `windowMs` before `t`. */
  dropsNear(t: number, windowMs: number): DropMark[] {
    const out: DropMark[] = [];
    let i = lastAtOrBeforeBy(this.drops, t, (d) => d.t);
    for (; i >= 0 && this.drops[i]!.t > t - windowMs; i--) out.push(this.drops[i]!);
    return out;
  }

  /** The cut links at `t`. */
  cutsAt(t: number): CutsEvent | undefined {
    const i = lastAtOrBeforeBy(this.cuts, t, (c) => c.t);
    return i >= 0 ? this.cuts[i] : undefined;
  }

  /** Faults within `windowMs` before `t` (for badges that fade). */
  faultsNear(t: number, windowMs: number): FaultEvent[] {
    const out: FaultEvent[] = [];
    let i = lastAtOrBeforeBy(this.faults, t, (f) => f.t);
    for (; i >= 0 && this.faults[i]!.t > t - windowMs; i--) out.push(this.faults[i]!);
    return out;
  }

  /** The index of the last trace line at or before `t` (-1: none yet). */
  traceIndexAt(t: number): number {
    return lastAtOrBefore(this.traceTimes, t);
  }

  /** The time of the first trace line after `t` (step forward one event). */
  nextEventTime(t: number): number {
    const i = lastAtOrBefore(this.traceTimes, t) + 1;
    return i < this.traceTimes.length ? this.traceTimes[i]! : this.duration;
  }

  /** The time of the last trace line before `t` (step back one event). */
  prevEventTime(t: number): number {
    let i = lastAtOrBefore(this.traceTimes, t);
    while (i >= 0 && this.traceTimes[i]! >= t) i--;
    return i >= 0 ? this.traceTimes[i]! : 0;
  }
}

/** The index of the last element of sorted `a` that is <= t, or -1. */
export function lastAtOrBefore(a: readonly number[], t: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

function lastAtOrBeforeBy<T>(a: readonly T[], t: number, key: (x: T) => number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (key(a[mid]!) <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * The nodes a failure message names, to ring them in red: the simulator's
 * `node 3` and `leader 0`, the lab tester's `server 2`, `server=4` and
 * `two leaders: 1 and 2`.
 */
export function suspectNodes(message: string): Set<number> {
  const out = new Set<number>();
  for (const m of message.matchAll(/\b(?:node|leader|server)[ =](\d+)/g)) out.add(Number(m[1]));
  for (const m of message.matchAll(/\bleaders: (\d+) and (\d+)/g)) out.add(Number(m[1])).add(Number(m[2]));
  return out;
}
