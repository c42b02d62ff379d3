import { MESSAGE_NAMES, describeMessage } from '../core/describe.js';
import { MessageType, type Message, type NodeId } from '../core/types.js';
import { decode, encode } from '../util/codec.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import type { SimObserver } from './observe.js';

/** How the simulated links misbehave. */
export interface LinkFaults {
  /** Probability that a message is lost. */
  loss: number;
  /** Probability that a message is delivered twice. */
  dup: number;
  /** One-way delay: `baseMs` plus up to `jitterMs` (which also reorders). */
  baseMs: number;
  jitterMs: number;
}

export interface MessageNetStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
}

/**
 * The simulator's message network between Raft nodes: delay and jitter
 * (hence reordering), loss, duplication, and directed cuts (a partition of
 * any shape is a set of cut links). Messages travel encoded, so no two nodes
 * ever share an object. A paused node's messages wait, in both directions,
 * like data in a TCP buffer, until it resumes.
 */
export class SimMessageNetwork {
  readonly stats: MessageNetStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 };
  faults: LinkFaults;
  private readonly handlers = new Map<NodeId, (m: Message) => void>();
  private readonly cut = new Set<string>();
  /** Messages waiting for a paused node, with their observer ids (0 when nobody observes). */
  private readonly held = new Map<NodeId, [Message, number, number][]>();
  private readonly outHeld = new Map<NodeId, [Message, number][]>();
  private nextId = 1;

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    faults: LinkFaults,
    private readonly trace?: (line: string) => void,
    /** Told each message's fate; never consulted, so it cannot change the run. */
    private readonly observer?: SimObserver,
  ) {
    this.faults = { ...faults };
  }

  /** Node `id` is up: messages to it go to `deliver`. */
  attach(id: NodeId, deliver: (m: Message) => void): void {
    this.handlers.set(id, deliver);
  }

  /** Node `id` is down: messages to it are lost. */
  detach(id: NodeId): void {
    if (this.observer !== undefined) {
      const t = this.clock.now();
      for (const [, mid] of this.outHeld.get(id) ?? []) this.observer({ kind: 'drop', t, id: mid, copy: 0, reason: 'down', atSend: true });
      for (const [, mid, copy] of this.held.get(id) ?? []) this.observer({ kind: 'drop', t, id: mid, copy, reason: 'down', atSend: false });
    }
    this.handlers.delete(id);
    this.held.delete(id);
    this.outHeld.delete(id);
  }

  /** Replaces the set of cut links (from → to). */
  setCuts(pairs: Iterable<[NodeId, NodeId]>): void {
    this.cut.clear();
    for (const [a, b] of pairs) this.cut.add(`${a}>${b}`);
  }

  get cutCount(): number {
    return this.cut.size;
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(`${from}>${to}`);
  }

  /** Holds everything to and from `id` until {@link release}. */
  hold(id: NodeId): void {
    if (!this.held.has(id)) this.held.set(id, []);
    if (!this.outHeld.has(id)) this.outHeld.set(id, []);
  }

  release(id: NodeId): void {
    const out = this.outHeld.get(id) ?? [];
    const inb = this.held.get(id) ?? [];
    this.held.delete(id);
    this.outHeld.delete(id);
    for (const [m, id] of out) this.send(m, id);
    for (const [m, id, copy] of inb) this.deliver(m, 0, id, copy);
  }

  /** A transport for node `id`. */
  transportFor(id: NodeId): { send(m: Message): void } {
    return {
      send: (m) => {
        const mid = this.observer === undefined ? 0 : this.observeSend(m);
        const q = this.outHeld.get(id);
        if (q !== undefined) {
          q.push([m, mid]);
          this.observer?.({ kind: 'hold', t: this.clock.now(), id: mid, copy: 0, side: 'out' });
        } else this.send(m, mid);
      },
    };
  }

  /** Reports a message handed to the network and returns its id. */
  private observeSend(m: Message): number {
    const id = this.nextId++;
    const ok = m.type === MessageType.Vote || m.type === MessageType.PreVote ? undefined : 'granted' in m ? m.granted : 'success' in m ? m.success : undefined;
    const entries = m.type === MessageType.App ? m.entries.length : 0;
    this.observer!({ kind: 'send', t: this.clock.now(), id, from: m.from, to: m.to, type: m.type, name: MESSAGE_NAMES[m.type], words: describeMessage(m), term: m.term, ok, entries });
    return id;
  }

  private send(m: Message, id: number): void {
    this.stats.sent++;
    const cut = this.isCut(m.from, m.to);
    if (cut || this.random.float() < this.faults.loss) {
      this.stats.dropped++;
      this.trace?.(`drop ${MESSAGE_NAMES[m.type] ?? `type ${String(m.type)}`} ${m.from}>${m.to} t${m.term}`);
      this.observer?.({ kind: 'drop', t: this.clock.now(), id, copy: 0, reason: cut ? 'cut' : 'loss', atSend: true });
      return;
    }
    const bytes = encode(m);
    const copies = this.random.float() < this.faults.dup ? 2 : 1;
    if (copies === 2) {
      this.stats.duplicated++;
      this.observer?.({ kind: 'dup', t: this.clock.now(), id });
    }
    for (let c = 0; c < copies; c++) {
      const delay = this.faults.baseMs + this.random.float() * this.faults.jitterMs;
      const copy = c;
      this.clock.setTimer(delay, () => this.arrive(bytes, id, copy));
      this.observer?.({ kind: 'schedule', t: this.clock.now(), id, copy, arriveAt: this.clock.now() + Math.max(0, delay) });
    }
  }

  private arrive(bytes: Uint8Array, id: number, copy: number): void {
    const m = decode<Message>(bytes);
    const cut = this.isCut(m.from, m.to);
    if (cut || !this.handlers.has(m.to)) {
      this.stats.dropped++;
      this.observer?.({ kind: 'drop', t: this.clock.now(), id, copy, reason: cut ? 'cut' : 'down', atSend: false });
      return;
    }
    const q = this.held.get(m.to);
    if (q !== undefined) {
      q.push([m, id, copy]);
      this.observer?.({ kind: 'hold', t: this.clock.now(), id, copy, side: 'in' });
      return;
    }
    this.deliver(m, bytes.length, id, copy);
  }

  private deliver(m: Message, size: number, id: number, copy: number): void {
    const h = this.handlers.get(m.to);
    if (h === undefined) {
      this.observer?.({ kind: 'drop', t: this.clock.now(), id, copy, reason: 'down', atSend: false });
      return;
    }
    this.stats.delivered++;
    this.trace?.(`recv ${m.from}>${m.to} ${describeMessage(m)} ${size}b`);
    this.observer?.({ kind: 'deliver', t: this.clock.now(), id, copy, bytes: size });
    h(m);
  }
}
