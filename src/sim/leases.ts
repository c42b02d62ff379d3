import type { Session } from '../kv/commands.js';
import { isLeaseCommand } from '../kv/leases.js';
import { LeaseNotFoundError } from '../kv/leases.js';
import { KvStateMachine, type KvStateMachineOptions } from '../kv/state-machine.js';
import type { WatchChange } from '../kv/watch-history.js';
import { decode } from '../util/codec.js';
import type { Random } from '../util/random.js';
import { RetryingCaller, type NodeServices, type RetryEnv } from './retry.js';
import { SimCheckFailure } from './safety.js';

/** Keys attached to leases live under this prefix (their own key space: the linearizability checker never sees them). */
export const LEASE_PREFIX = 'l/';

/** A grant or keep-alive a client got an answer to: the lease was alive when it applied at `revision`. */
export interface LeaseAck {
  readonly id: number;
  readonly ttl: number;
  /** When the client first sent the request (virtual ms; retries keep it). */
  readonly call: number;
  readonly revision: number;
}

/** An applied `lease-expire` (one that deleted the lease), at the virtual time its entry was first applied by any node. */
export interface LeaseExpiry {
  readonly id: number;
  readonly index: number;
  readonly generation: number;
  readonly at: number;
}

export interface LeaseEnv extends RetryEnv<NodeServices> {
  readonly acks: LeaseAck[];
  readonly trace: ((line: string) => void) | undefined;
}

/** What the lease clients did (run stats). */
export interface LeaseCounts {
  grants: number;
  keepAlives: number;
  revokes: number;
  lost: number;
}

const gone = (e: unknown): boolean => e instanceof LeaseNotFoundError;

/**
 * A simulated lease user: grants a lease (TTL 1-3 s), attaches one to three
 * keys to it (puts with the lease), then either
 * keeps it alive every third of the TTL or sooner for a while, keeps it alive and revokes
 * it, or lets it lapse; then the next. Every acknowledged grant and
 * keep-alive is recorded for {@link checkKeptAlive}. A keep-alive or put
 * answered "not found" means the lease expired meanwhile (legitimate when
 * the answers came late: the check decides). Every request carries a session,
 * so a retried grant, keep-alive or revoke applies once.
 */
export class LeaseClient {
  private seq = 0;
  private readonly caller: RetryingCaller<NodeServices>;
  pending = 0;
  readonly counts: LeaseCounts = { grants: 0, keepAlives: 0, revokes: 0, lost: 0 };

  constructor(
    readonly name: string,
    private readonly env: LeaseEnv,
    private readonly random: Random,
  ) {
    this.caller = new RetryingCaller(name, env, random);
  }

  get retries(): number {
    return this.caller.retries;
  }

  async run(stop: () => boolean): Promise<void> {
    const clock = this.env.clock;
    while (!stop()) {
      await clock.sleep(this.random.float() * 300);
      if (stop()) return;
      const ttl = 1 + this.random.int(3);
      const ttlMs = ttl * 1000;
      const call = clock.now();
      this.pending++;
      const grantSession: Session = { clientId: this.name, seq: ++this.seq };
      const g = await this.caller.send(`grant(${ttl})`, (s) => s.leases.grant(ttl, grantSession));
      this.pending--;
      if (!g.ok) continue;
      const id = g.value.id;
      this.counts.grants++;
      this.env.acks.push({ id, ttl, call, revision: g.value.revision });
      this.env.trace?.(`lease client ${this.name}: granted lease ${id} (ttl ${ttl} s)`);
      let alive = true;
      const keys = 1 + this.random.int(3);
      for (let j = 0; j < keys && alive; j++) {
        const key = `${LEASE_PREFIX}${this.name}/${id}/${j}`;
        const session: Session = { clientId: this.name, seq: ++this.seq };
        this.pending++;
        const r = await this.caller.send(`put(${key}, lease ${id})`, (s) => s.kv.put(key, `${this.name}.${id}.${j}`, session, undefined, id), gone);
        this.pending--;
        alive = r.ok;
      }
      const x = this.random.float();
      const mode = x < 0.5 ? 'keep' : x < 0.75 ? 'revoke' : 'lapse';
      const until = clock.now() + ttlMs * (1 + 3 * this.random.float());
      if (mode === 'lapse') {
        this.env.trace?.(`lease client ${this.name}: lets lease ${id} lapse`);
        continue;
      }
      while (alive && !stop() && clock.now() < until) {
        await clock.sleep((ttlMs / 3) * (0.5 + 0.5 * this.random.float()));
        const kaCall = clock.now();
        this.pending++;
        const kaSession: Session = { clientId: this.name, seq: ++this.seq };
        const r = await this.caller.send(`keepalive(${id})`, (s) => s.leases.keepAlive(id, kaSession), gone);
        this.pending--;
        if (!r.ok) {
          alive = false;
          this.counts.lost++;
          this.env.trace?.(`lease client ${this.name}: lease ${id} is gone (keep-alive sent at ${kaCall.toFixed(1)})`);
          break;
        }
        this.counts.keepAlives++;
        this.env.acks.push({ id, ttl, call: kaCall, revision: r.value.revision });
      }
      if (mode === 'revoke' && alive) {
        this.pending++;
        const revokeSession: Session = { clientId: this.name, seq: ++this.seq };
        const r = await this.caller.send(`revoke(${id})`, (s) => s.leases.revoke(id, undefined, revokeSession), gone);
        this.pending--;
        if (r.ok) this.counts.revokes++;
        this.env.trace?.(`lease client ${this.name}: revoked lease ${id}${r.ok ? ` at ${r.value.revision}` : ' (already gone)'}`);
      }
    }
  }
}

/**
 * The `lease-kept-alive` check. A lease whose expiry applied at virtual time
 * X must have had its latest acknowledged grant or keep-alive (one applied
 * before the expiry's index) sent at C with X >= C + TTL / (1 + drift).
 *
 * Why that bound, and no other margin: an expirer sets a lease's deadline
 * only once it sees that generation applied (after the request was sent, so
 * after C), TTL ahead on its own clock; it proposes the expiry only when its
 * clock passes that deadline (ticks are late, never early), and the entry is
 * applied after it is proposed. A clock within the drift bound runs at most
 * (1 + drift) times as fast as virtual time, so TTL of its time is at least
 * TTL / (1 + drift) of virtual time. The leader-change extension, pauses and
 * lost ticks only make expiry later, so they need no margin. A keep-alive
 * applied after the expiry's generation was seen makes the expiry refused
 * (the generation no longer matches). Only valid when no clock jumped.
 */
export function checkKeptAlive(expiries: readonly LeaseExpiry[], acks: readonly LeaseAck[], driftPpm: number): void {
  const byId = new Map<number, LeaseAck[]>();
  for (const a of acks) byId.set(a.id, [...(byId.get(a.id) ?? []), a]);
  for (const e of expiries) {
    const before = (byId.get(e.id) ?? []).filter((a) => a.revision < e.index);
    if (before.length === 0) continue; // a lease no client heard of (its grant's answer never came back): nobody relied on it
    const last = before.reduce((m, a) => (a.call > m.call ? a : m));
    const earliest = last.call + (last.ttl * 1000) / (1 + driftPpm / 1e6);
    if (e.at < earliest) {
      throw new SimCheckFailure(
        'lease-kept-alive',
        `lease ${e.id} (ttl ${last.ttl} s) expired at index ${e.index} (generation ${e.generation}), applied at ${e.at.toFixed(1)} ms, but a grant or keep-alive sent at ${last.call.toFixed(1)} ms was acknowledged (revision ${last.revision}): it could not expire before ${earliest.toFixed(1)} ms`,
      );
    }
  }
}

const sameList = (a: readonly WatchChange[], b: readonly WatchChange[]): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Describes the changes one apply made, for the per-replica comparison. */
export function changesText(changes: readonly WatchChange[]): string {
  return changes.map((c) => (c.type === 'put' ? `put ${c.key}` : `delete ${c.key}`)).join(', ') || 'nothing';
}

/** What one replica did applying one index: the changes it made and the leases it held after. */
export interface AppliedLeases {
  readonly node: number;
  readonly changes: readonly WatchChange[];
  /** The ids of the leases held after the apply, in order. */
  readonly leases: string;
}

/**
 * The per-replica half of `lease-expiry-atomic`: applying index `index`, a
 * replica must end with the leases the first replica to apply it ended
 * with, and make the same changes if either touched a key attached to a
 * lease (under {@link LEASE_PREFIX}): a lease expired or revoked by one
 * replica and not another, or at another revision, fails here. Other
 * differences are left to the replica-state check.
 */
export function checkSameLeases(index: number, mine: AppliedLeases, first: AppliedLeases): void {
  const d = leaseDifference(mine, first);
  if (d !== null) throw new SimCheckFailure('lease-expiry-atomic', `${d === 'leases' ? 'after applying' : 'applying'} index ${index}, node ${mine.node} ${describeApplied(mine, d)} but node ${first.node} ${describeApplied(first, d)}`);
}

/** Where two replicas' applies of one index differ for leases: the leases held after, the changes to leased keys, or not at all. */
function leaseDifference(a: Omit<AppliedLeases, 'node'>, b: Omit<AppliedLeases, 'node'>): 'leases' | 'changes' | null {
  if (a.leases !== b.leases) return 'leases';
  if (sameList(a.changes, b.changes)) return null;
  return [...a.changes, ...b.changes].some((c) => c.key.startsWith(LEASE_PREFIX)) ? 'changes' : null;
}

function describeApplied(a: Omit<AppliedLeases, 'node'>, d: 'leases' | 'changes'): string {
  return d === 'leases' ? `held leases [${a.leases}]` : `made ${changesText(a.changes)}`;
}

/**
 * The committed half of `lease-expiry-atomic`: replays the committed log on
 * a fresh state machine and checks that each applied revoke and expiry
 * deleted every key attached to its lease right before it, at its own
 * revision, and nothing else; and that what the first replica to apply each
 * index did for leases (`applied`) is what the committed log does there (a
 * lease dropped by the replicas' own judgement, not by a revoke or expiry in
 * the log, fails here even when every replica agrees).
 */
export function checkLeaseDrops(
  commands: ReadonlyMap<number, { readonly command: Uint8Array; readonly term: number }>,
  applied: ReadonlyMap<number, AppliedLeases> = new Map(),
  /** The state machine to replay on (tests hand in a broken one). */
  makeSm: (opts: KvStateMachineOptions) => KvStateMachine = (opts) => new KvStateMachine(opts),
): void {
  const changes: WatchChange[] = [];
  const sm = makeSm({ changes: { record: (c) => changes.push(c), reset: () => {} } });
  for (const index of [...commands.keys()].sort((a, b) => a - b)) {
    const c = commands.get(index)!;
    let cmd: unknown;
    try {
      cmd = decode<unknown>(c.command);
    } catch {
      cmd = undefined;
    }
    const drop = isLeaseCommand(cmd) && (cmd.kind === 'lease-revoke' || cmd.kind === 'lease-expire') ? cmd : undefined;
    const keys = drop === undefined ? [] : (sm.lease(drop.id)?.keys ?? []);
    changes.length = 0;
    const r = sm.apply(c.command, { index, term: c.term });
    const node = applied.get(index);
    if (node !== undefined) {
      const log = { changes, leases: sm.leases().map((l) => l.id).join(',') };
      const d = leaseDifference(node, log);
      if (d !== null) throw new SimCheckFailure('lease-expiry-atomic', `${d === 'leases' ? 'after applying' : 'applying'} index ${index}, node ${node.node} ${describeApplied(node, d)} but the committed log ${d === 'leases' ? 'holds' : 'makes'} ${describeApplied(log, d).replace(/^(held|made) /, '')}`);
    }
    if (drop === undefined || !r.ok || r.op !== 'lease' || !r.applied) continue;
    const deleted = changes.filter((x) => x.type === 'delete').map((x) => x.key);
    const left = keys.filter((k) => sm.get(k) !== null);
    if (left.length > 0 || deleted.length !== keys.length || changes.some((x) => x.type !== 'delete' || x.revision !== index) || sm.lease(drop.id) !== undefined) {
      throw new SimCheckFailure(
        'lease-expiry-atomic',
        `${drop.kind} of lease ${drop.id} at index ${index}: attached keys ${keys.join(', ') || 'none'}, deleted ${changesText(changes)}${left.length > 0 ? `, still present ${left.join(', ')}` : ''}`,
      );
    }
  }
}
