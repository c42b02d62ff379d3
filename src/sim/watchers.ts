import { WatchCompactedError, type WatchChange, type WatchHistory } from '../kv/watch-history.js';
import { KvStateMachine } from '../kv/state-machine.js';
import { decodeCommand, type TxnCommandBody } from '../kv/commands.js';
import type { CanaryName } from '../util/canary.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { SimCheckFailure } from './safety.js';

/** What a watcher can see of one running node: its watch history and how far it has applied. */
export interface WatchSource {
  readonly id: number;
  /** Changes when the process restarts: a stream does not survive its process. */
  readonly incarnation: number;
  /** A paused process sends nothing. */
  readonly paused: boolean;
  readonly history: WatchHistory;
  /** The node's applied index: its history holds every change up to it. */
  readonly applied: number;
}

/** How a simulated watcher reaches the simulated nodes. */
export interface WatchEnv {
  readonly clock: Clock;
  /** The nodes a watcher may attach to now (running members), in a stable order. */
  sources(): readonly WatchSource[];
  readonly trace: ((line: string) => void) | undefined;
}

/** How one watcher behaves (drawn from the seed). */
export interface WatcherPlan {
  readonly prefix: string;
  /** Mean time between two pulls (ms of virtual time). */
  readonly pollMs: number;
  /** The most changes one pull examines (a stream's batch); a pull never ends inside a revision. */
  readonly batch: number;
  /** Probability per pull that the connection drops and the watcher resumes on another node. */
  readonly dropProbability: number;
}

/** How often a stream sends a `progress` event (as `GET /v1/watch` does). */
const PROGRESS_MS = 1000;
/** Pulls in a row that find no running node holding the revision wanted before the watcher accepts its compacted error. */
const COMPACTED_PATIENCE = 3;

/**
 * A simulated watch stream: watches a prefix from a start revision, pulling
 * changes in small batches straight from one node's {@link WatchHistory} in
 * virtual time (what `GET /v1/watch` streams, without the HTTP), and when the
 * node crashes, restarts, leaves or answers with a compacted error, or the
 * connection drops, resumes on another node from its last revision + 1 (or its last progress + 1), as
 * the client library does. A compacted error is accepted only when no running
 * node holds the revision it needs. What it received is checked against the
 * committed history by {@link checkWatchStream}.
 */
export class SimWatcher {
  /** Every change delivered, in delivery order. */
  readonly received: WatchChange[] = [];
  /** The next revision wanted (what a reconnect asks for): the last revision received + 1, or the last progress + 1. */
  cursor: number;
  /** Every change up to this revision under the prefix has been delivered (the attached node had applied it and the pull found nothing more). */
  caughtUpTo: number;
  /** The compacted error the watcher ended with, if no running node held its revision. */
  compacted: WatchCompactedError | null = null;
  /** Resumptions on another node (crash, restart, removal, compacted, dropped connection). */
  moves = 0;
  private node: WatchSource | null = null;
  private nodeIncarnation = -1;
  /** Where the stream on the current node has scanned to (past changes not under the prefix). */
  private scanNext = 0;
  private noHolder = 0;
  private progressAt = 0;
  private skipArmed = false;

  constructor(
    readonly name: string,
    readonly start: number,
    readonly plan: WatcherPlan,
    private readonly env: WatchEnv,
    private readonly random: Random,
    private readonly canary: CanaryName | undefined,
  ) {
    this.cursor = start;
    this.caughtUpTo = start - 1;
  }

  get prefix(): string {
    return this.plan.prefix;
  }

  /** The node the watcher streams from now, if any. */
  get attachedTo(): number | null {
    return this.node?.id ?? null;
  }

  /** Pulls until `stop()` says so or the history it needs is gone everywhere. */
  async run(stop: () => boolean): Promise<void> {
    while (!stop() && this.compacted === null) {
      await this.env.clock.sleep(this.plan.pollMs * (0.5 + this.random.float()));
      if (stop()) return;
      this.pull();
    }
  }

  /** One pull: (re)attach if needed, then deliver at most one batch. */
  pull(): void {
    let src = this.current();
    if (src === null) {
      src = this.attach();
      if (src === null) return;
    }
    if (src.paused) return;
    if (this.random.float() < this.plan.dropProbability) {
      this.detach('the connection dropped');
      return;
    }
    let pos: number;
    try {
      pos = src.history.positionOf(this.scanNext);
    } catch (e) {
      if (!(e instanceof WatchCompactedError)) throw e;
      this.detach(`node ${src.id} answered: ${e.message.split(':')[0]}`);
      return;
    }
    const h = src.history;
    let examined = 0;
    for (;;) {
      const c = h.at(pos);
      if (c === undefined) {
        // Everything this node applied has been seen: as good as a `progress` event (else a
        // watcher whose prefix changes rarely would rescan from its last change at every reconnect).
        this.scanNext = Math.max(this.scanNext, src.applied + 1);
        this.caughtUpTo = Math.max(this.caughtUpTo, src.applied);
        this.progress(src.applied);
        return;
      }
      // A batch ends only between revisions: a reconnect resumes at the next revision.
      if (examined >= this.plan.batch && c.revision !== h.at(pos - 1)?.revision) {
        // The history is complete: no change lies between the last one examined and this one.
        this.caughtUpTo = Math.max(this.caughtUpTo, c.revision - 1);
        // The stream's `progress` event, once a second: a reconnect may resume after it.
        if (this.env.clock.now() - this.progressAt >= PROGRESS_MS) this.progress(c.revision - 1);
        return;
      }
      examined++;
      pos++;
      this.scanNext = c.revision + 1;
      if (c.key.startsWith(this.plan.prefix)) this.deliver(c, src.id);
    }
  }

  /** Everything up to `revision` under the prefix has been sent: resuming from `revision + 1` is exact. */
  private progress(revision: number): void {
    this.cursor = Math.max(this.cursor, revision + 1);
    this.progressAt = this.env.clock.now();
  }

  private deliver(c: WatchChange, from: number): void {
    if (this.skipArmed) {
      // The planted bug: after its first resumption the cursor steps over one change.
      this.skipArmed = false;
      this.env.trace?.(`watch ${this.name}: canary skips ${describeChange(c)}`);
      this.cursor = c.revision + 1;
      return;
    }
    const last = this.received.at(-1);
    if (c.revision < this.start) throw new SimCheckFailure('watch', `watcher ${this.name} (from revision ${this.start}) received ${describeChange(c)} from node ${from}, before its start revision`);
    if (last !== undefined && c.revision < last.revision) {
      throw new SimCheckFailure('watch', `watcher ${this.name} received ${describeChange(c)} from node ${from} after ${describeChange(last)}: out of revision order`);
    }
    // Several changes may share a revision (a transaction), but none comes twice.
    for (let i = this.received.length - 1; i >= 0 && this.received[i]!.revision === c.revision; i--) {
      if (sameChange(this.received[i]!, c)) throw new SimCheckFailure('watch', `watcher ${this.name} received ${describeChange(c)} twice (the second time from node ${from})`);
    }
    this.received.push(c);
    this.cursor = c.revision + 1;
    this.env.trace?.(`watch ${this.name} node ${from}: ${describeChange(c)}`);
  }

  /** The attached node, if its process is still the one the stream was opened on. */
  private current(): WatchSource | null {
    const n = this.node;
    if (n === null) return null;
    const now = this.env.sources().find((s) => s.id === n.id);
    if (now === undefined || now.incarnation !== this.nodeIncarnation) {
      this.detach(now === undefined ? `node ${n.id} is down or left` : `node ${n.id} restarted`);
      return null;
    }
    return now;
  }

  private detach(why: string): void {
    if (this.node === null) return;
    this.env.trace?.(`watch ${this.name}: leaves node ${this.node.id} (${why}); resumes from ${this.cursor}`);
    this.node = null;
    this.moves++;
    if (this.canary === 'watch-skips-event' && this.moves === 1) this.skipArmed = true;
  }

  /** Opens a stream on a running node that holds the cursor, resuming at it; or accepts the compacted error. */
  private attach(): WatchSource | null {
    const all = this.env.sources();
    if (all.length === 0) return null;
    const holders = all.filter((s) => s.history.oldestRevision <= this.cursor);
    if (holders.length === 0) {
      if (++this.noHolder >= COMPACTED_PATIENCE) {
        const oldest = Math.min(...all.map((s) => s.history.oldestRevision));
        this.compacted = new WatchCompactedError(this.cursor, oldest);
        this.env.trace?.(`watch ${this.name}: compacted on every running node (${all.map((s) => `${s.id}: ${s.history.oldestRevision}`).join(', ')}): ${this.compacted.message.split(':')[0]}`);
      }
      return null;
    }
    this.noHolder = 0;
    const s = holders[this.random.int(holders.length)]!;
    this.node = s;
    this.nodeIncarnation = s.incarnation;
    this.scanNext = this.cursor;
    this.env.trace?.(`watch ${this.name}: streams from node ${s.id} at revision ${this.cursor}`);
    return s;
  }
}

export function describeChange(c: WatchChange | undefined): string {
  if (c === undefined) return 'nothing';
  return c.type === 'put' ? `put ${JSON.stringify(c.key)}=${JSON.stringify(c.value)} at revision ${c.revision} (created ${c.createRevision})` : `delete ${JSON.stringify(c.key)} at revision ${c.revision}`;
}

function sameChange(a: WatchChange, b: WatchChange): boolean {
  if (a.type !== b.type || a.key !== b.key || a.revision !== b.revision) return false;
  return a.type === 'delete' || (b.type === 'put' && a.value === b.value && a.createRevision === b.createRevision);
}

/**
 * The committed history as changes, derived without the change recorder or
 * {@link WatchHistory} (so a bug in either cannot hide in the reference):
 * every normal entry's command applied in index order to a fresh
 * {@link KvStateMachine} (the code the nodes ran, so sessions deduplicate
 * retried writes as they did there), and the state compared before and after
 * each index: a key whose modification revision became that index was put, a
 * key that disappeared was deleted. A key created again after a delete gets
 * that index as its creation revision. Several changes of one revision (a
 * transaction's writes, a revoked or expired lease's keys) come in the order
 * the state machine applies them, taken from the command itself: a
 * transaction's applied branch in its order (a key is written at most once
 * per branch), every other command's keys in key order (a lease's keys are
 * deleted so).
 */
export function replayChanges(commands: ReadonlyMap<number, { readonly command: Uint8Array; readonly term: number }>): WatchChange[] {
  const sm = new KvStateMachine();
  const out: WatchChange[] = [];
  let before = new Map<string, { value: string; revision: number; createRevision: number }>();
  for (const index of [...commands.keys()].sort((a, b) => a - b)) {
    const c = commands.get(index)!;
    const result = sm.apply(c.command, { index, term: c.term });
    const batch: WatchChange[] = [];
    const after = new Map<string, { value: string; revision: number; createRevision: number }>();
    for (const item of sm.list('')) {
      const prev = before.get(item.key);
      const createRevision = prev === undefined ? item.revision : prev.createRevision;
      after.set(item.key, { value: item.value, revision: item.revision, createRevision });
      if (item.revision === index) batch.push({ type: 'put', key: item.key, value: item.value, revision: index, createRevision });
    }
    for (const key of before.keys()) if (!after.has(key)) batch.push({ type: 'delete', key, revision: index });
    if (batch.length > 1) {
      let rank = (k: string): number | string => k;
      if (result.ok && result.op === 'txn') {
        const t = decodeCommand(c.command) as TxnCommandBody;
        const order = (result.succeeded ? t.success : t.failure).filter((op) => op.op !== 'get').map((op) => op.key);
        rank = (k) => order.indexOf(k);
      }
      batch.sort((a, b) => {
        const x = rank(a.key);
        const y = rank(b.key);
        return x < y ? -1 : x > y ? 1 : 0;
      });
    }
    out.push(...batch);
    before = after;
  }
  return out;
}

/** What one watcher claims: it watched `prefix` from `start` and received `received`, complete up to `caughtUpTo`. */
export interface WatchStream {
  readonly name: string;
  readonly prefix: string;
  readonly start: number;
  readonly caughtUpTo: number;
  readonly received: readonly WatchChange[];
}

/**
 * Checks that a watcher received exactly the committed changes under its
 * prefix with revisions from its start up to where it caught up: no gap,
 * duplicate, reordering or altered change. Throws a {@link SimCheckFailure}
 * naming the first position that differs.
 */
export function checkWatchStream(w: WatchStream, committed: readonly WatchChange[]): void {
  const expected = committed.filter((c) => c.revision >= w.start && c.revision <= w.caughtUpTo && c.key.startsWith(w.prefix));
  const n = Math.max(expected.length, w.received.length);
  for (let i = 0; i < n; i++) {
    const e = expected[i];
    const g = w.received[i];
    if (e !== undefined && g !== undefined && sameChange(e, g)) continue;
    const where = `watcher ${w.name} (prefix ${JSON.stringify(w.prefix)}, from revision ${w.start}, complete up to ${w.caughtUpTo})`;
    const what = e === undefined ? 'an extra change' : g === undefined ? 'a missing change' : e.revision < g.revision ? 'a skipped change' : e.revision > g.revision ? 'a change that was never committed' : 'a different change';
    const rev = Math.min(e?.revision ?? Infinity, g?.revision ?? Infinity);
    throw new SimCheckFailure('watch', `${where}: ${what} at revision ${rev} (event ${i + 1}): expected ${describeChange(e)}, got ${describeChange(g)}`);
  }
}
