import type { CanaryName } from '../util/canary.js';
import { invariant } from './errors.js';
import type { ConfChange, ConfChangeStep, ConfState, NodeId } from './types.js';

/**
 * Membership: configurations as values, the pure rule that turns one into the
 * next, and the history of configurations along the log.
 *
 * A configuration takes effect when its entry is appended to the log, not when
 * it commits or applies (dissertation §4.1): every node uses the latest
 * configuration entry in its log. An uncommitted configuration entry that a
 * new leader overwrites is undone with it ({@link ConfigHistory}).
 */

/** A membership change the rules refuse, with the rule that was broken. */
export class ConfChangeError extends Error {
  override name = 'ConfChangeError';
}

/** The configuration of a brand-new cluster: these voters, nobody else. */
export function bootstrapConf(voters: readonly NodeId[]): ConfState {
  return { voters: sortedUnique(voters), outgoing: [], learners: [], context: {} };
}

/** An empty configuration: a node that waits to be added to a cluster. */
export const EMPTY_CONF: ConfState = { voters: [], outgoing: [], learners: [], context: {} };

/** True while in C_old,new: decisions need a majority of both. */
export function isJoint(c: ConfState): boolean {
  return c.outgoing.length > 0;
}

/** A voter of either half. */
export function isVoter(c: ConfState, id: NodeId): boolean {
  return c.voters.includes(id) || c.outgoing.includes(id);
}

/** Anyone the configuration knows: voters of either half and learners. */
export function isMember(c: ConfState, id: NodeId): boolean {
  return isVoter(c, id) || c.learners.includes(id);
}

/** Every member, sorted: the ids a leader replicates to (besides itself). */
export function members(c: ConfState): NodeId[] {
  return sortedUnique([...c.voters, ...c.outgoing, ...c.learners]);
}

export function sameConf(a: ConfState, b: ConfState): boolean {
  return (
    sameIds(a.voters, b.voters) &&
    sameIds(a.outgoing, b.outgoing) &&
    sameIds(a.learners, b.learners) &&
    JSON.stringify(sortedContext(a.context)) === JSON.stringify(sortedContext(b.context))
  );
}

/** Does `cc` change who votes? Such a change goes through the joint configuration. */
export function changesVoters(c: ConfState, cc: ConfChange): boolean {
  return cc.steps.some((s) => s.type === 'promote' || (s.type === 'remove' && isVoter(c, s.id)));
}

/**
 * The configuration after `cc`, or a {@link ConfChangeError} naming the rule it
 * breaks. Rules: no change while joint except leaving it (empty steps); at
 * least one voter remains; a learner is added under a new id; only learners
 * are promoted; only members are removed. A change of the voters enters the
 * joint configuration: C_new in `voters`, C_old in `outgoing`.
 */
export function applyConfChange(c: ConfState, cc: ConfChange, canary?: CanaryName): ConfState {
  if (cc.steps.length === 0) {
    if (!isJoint(c)) throw new ConfChangeError('not in a joint configuration: there is nothing to leave');
    return { ...c, outgoing: [], context: leaveJointContext(c) };
  }
  if (isJoint(c)) throw new ConfChangeError('the joint configuration must be left before another change');
  const voters = new Set(c.voters);
  const learners = new Set(c.learners);
  const context: Record<string, string> = { ...c.context };
  const seen = new Set<NodeId>();
  for (const s of cc.steps) {
    checkStep(s);
    if (seen.has(s.id)) throw new ConfChangeError(`node ${s.id} appears twice in one change`);
    seen.add(s.id);
    switch (s.type) {
      case 'addLearner':
        if (voters.has(s.id) || learners.has(s.id)) throw new ConfChangeError(`node ${s.id} is already a member; a node that comes back is added under a new id`);
        learners.add(s.id);
        if (s.context !== undefined) context[String(s.id)] = s.context;
        break;
      case 'promote':
        if (!learners.has(s.id)) throw new ConfChangeError(voters.has(s.id) ? `node ${s.id} is already a voter` : `node ${s.id} is not a learner; add it as a learner first`);
        learners.delete(s.id);
        voters.add(s.id);
        break;
      case 'remove':
        if (!voters.has(s.id) && !learners.has(s.id)) throw new ConfChangeError(`node ${s.id} is not a member`);
        voters.delete(s.id);
        learners.delete(s.id);
        delete context[String(s.id)];
        break;
    }
  }
  if (voters.size === 0) throw new ConfChangeError('the change would leave no voter');
  const next: ConfState = { voters: sortedUnique(voters), outgoing: [], learners: sortedUnique(learners), context };
  if (sameIds(next.voters, c.voters) || canary === 'voters-without-joint') return next;
  // The voters change: enter C_old,new. A removed voter stays in C_old (and keeps its
  // context) until the joint configuration is left.
  const keep: Record<string, string> = { ...context };
  for (const id of c.voters) {
    const ctx = c.context[String(id)];
    if (ctx !== undefined && keep[String(id)] === undefined) keep[String(id)] = ctx;
  }
  return { ...next, outgoing: [...c.voters], context: keep };
}

/** The context of members that remain once the joint configuration is left. */
export function leaveJointContext(c: ConfState): Record<string, string> {
  const out: Record<string, string> = {};
  for (const id of [...c.voters, ...c.learners]) {
    const ctx = c.context[String(id)];
    if (ctx !== undefined) out[String(id)] = ctx;
  }
  return out;
}

function checkStep(s: ConfChangeStep): void {
  if (!Number.isSafeInteger(s.id) || s.id < 0) throw new ConfChangeError(`node id ${String(s.id)} is not a non-negative integer`);
  if (s.type !== 'addLearner' && s.type !== 'promote' && s.type !== 'remove') throw new ConfChangeError(`unknown change '${String(s.type)}'`);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * What a configuration entry holds: the change, and the whole configuration it
 * results in. Nodes adopt the configuration as written, so a log replays
 * without knowing where it started (a node that joins an existing cluster
 * never saw the bootstrap configuration), and the change is there to read.
 */
export interface ConfEntry {
  readonly change: ConfChange;
  readonly conf: ConfState;
}

/** A configuration entry's data (versioned JSON: changes are rare and must stay readable). */
export function encodeConfEntry(e: ConfEntry): Uint8Array {
  return encoder.encode(JSON.stringify({ v: 1, steps: e.change.steps, conf: e.conf }));
}

/** Decodes entry data written by {@link encodeConfEntry}; throws on anything else. */
export function decodeConfEntry(data: Uint8Array): ConfEntry {
  const v = JSON.parse(decoder.decode(data)) as { v?: unknown; steps?: unknown; conf?: ConfState };
  invariant(v.v === 1 && Array.isArray(v.steps) && typeof v.conf === 'object' && v.conf !== null, 'a configuration entry of an unknown format');
  const c = v.conf;
  invariant(Array.isArray(c.voters) && Array.isArray(c.outgoing) && Array.isArray(c.learners) && typeof c.context === 'object', 'a configuration entry without a configuration');
  return { change: { steps: v.steps as ConfChangeStep[] }, conf: { voters: c.voters, outgoing: c.outgoing, learners: c.learners, context: c.context } };
}

interface HistoryRecord {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
}

/**
 * The configurations along the log: the one in force at the log's start (the
 * snapshot's, or the bootstrap configuration at index 0), then one record per
 * configuration entry after it. Because a configuration takes effect on
 * append, truncating the log's suffix must undo the records in it.
 */
export class ConfigHistory {
  private base: { index: number; conf: ConfState };
  private records: HistoryRecord[] = [];

  constructor(index: number, conf: ConfState) {
    this.base = { index, conf };
  }

  /** The index at which the history starts (the snapshot's, or 0). */
  get start(): number {
    return this.base.index;
  }

  /** The configuration in force (the latest in the log) and the index of its entry. */
  get current(): { readonly index: number; readonly conf: ConfState } {
    return this.records[this.records.length - 1] ?? this.base;
  }

  /** The configuration in force once the entry at `index` is in the log (for snapshots at `index`). */
  at(index: number): ConfState {
    invariant(index >= this.base.index, () => `no configuration known at ${index}: history starts at ${this.base.index}`);
    let conf = this.base.conf;
    for (const r of this.records) {
      if (r.index > index) break;
      conf = r.conf;
    }
    return conf;
  }

  /** A configuration entry at (index, term) was appended, giving `conf`. */
  add(index: number, term: number, conf: ConfState): void {
    invariant(index > this.current.index, () => `configuration entry at ${index} is not after ${this.current.index}`);
    this.records.push({ index, term, conf });
  }

  /**
   * Drops the records whose entries the log no longer holds: `termAt(i)` is the
   * log's term at i (undefined past its end). Returns true if any was dropped.
   */
  dropTruncated(termAt: (index: number) => number | undefined): boolean {
    let dropped = false;
    for (;;) {
      const last = this.records[this.records.length - 1];
      if (last === undefined || termAt(last.index) === last.term) return dropped;
      this.records.pop();
      dropped = true;
    }
  }

  /** The log before `index` was compacted into a snapshot: the base moves there. */
  compactTo(index: number): void {
    if (index <= this.base.index) return;
    this.base = { index, conf: this.at(index) };
    this.records = this.records.filter((r) => r.index > index);
  }

  /** A snapshot replaced the whole log: its configuration is all there is. */
  reset(index: number, conf: ConfState): void {
    this.base = { index, conf };
    this.records = [];
  }
}

function sortedUnique(ids: Iterable<NodeId>): NodeId[] {
  return [...new Set(ids)].sort((a, b) => a - b);
}

function sameIds(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sortedContext(ctx: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(ctx).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
