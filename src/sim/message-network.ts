import { describeMessage } from '../core/describe.js';
import type { Message, NodeId } from '../core/types.js';
import { decode, encode } from '../util/codec.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';

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
  private readonly held = new Map<NodeId, Message[]>();
  private readonly outHeld = new Map<NodeId, Message[]>();

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    faults: LinkFaults,
    private readonly trace?: (line: string) => void,
  ) {
    this.faults = { ...faults };
  }

  /** Node `id` is up: messages to it go to `deliver`. */
  attach(id: NodeId, deliver: (m: Message) => void): void {
    this.handlers.set(id, deliver);
  }

  /** Node `id` is down: messages to it are lost. */
  detach(id: NodeId): void {
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
    for (const m of out) this.send(m);
    for (const m of inb) this.deliver(m, 0);
  }

  /** A transport for node `id`. */
  transportFor(id: NodeId): { send(m: Message): void } {
    return {
      send: (m) => {
        const q = this.outHeld.get(id);
        if (q !== undefined) q.push(m);
        else this.send(m);
      },
    };
  }

  private send(m: Message): void {
    this.stats.sent++;
    if (this.isCut(m.from, m.to) || this.random.float() < this.faults.loss) {
      this.stats.dropped++;
      this.trace?.(`drop ${m.type} ${m.from}>${m.to} t${m.term}`);
      return;
    }
    const bytes = encode(m);
    const copies = this.random.float() < this.faults.dup ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let c = 0; c < copies; c++) {
      const delay = this.faults.baseMs + this.random.float() * this.faults.jitterMs;
      this.clock.setTimer(delay, () => this.arrive(bytes));
    }
  }

  private arrive(bytes: Uint8Array): void {
    const m = decode<Message>(bytes);
    if (this.isCut(m.from, m.to) || !this.handlers.has(m.to)) {
      this.stats.dropped++;
      return;
    }
    const q = this.held.get(m.to);
    if (q !== undefined) {
      q.push(m);
      return;
    }
    this.deliver(m, bytes.length);
  }

  private deliver(m: Message, size: number): void {
    const h = this.handlers.get(m.to);
    if (h === undefined) return;
    this.stats.delivered++;
    this.trace?.(`recv ${m.from}>${m.to} ${describeMessage(m)} ${size}b`);
    h(m);
  }
}
