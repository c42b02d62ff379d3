import { randomBytes } from 'node:crypto';
import { AuthError } from '../auth/commands.js';
import { ConfChangeError, isJoint, members } from '../core/membership.js';
import type { ConfChange, ConfState, NodeId } from '../core/types.js';
import { MembershipError, type AddMemberRequest, type AddMemberResult, type CallerContext, type MemberView, type MembersView, type MembershipApi, type MembershipErrorCode } from '../api/membership.js';
import type { RaftNode } from '../node/raft-node.js';
import type { Logger } from '../util/log.js';
import type { AddressBook } from './address-book.js';
import { ConfigError, parseHostPort } from './config.js';
import { decodeMemberContext, encodeMemberContext } from './member-context.js';
import type { NodeMetrics } from './metrics.js';

/** What {@link ClusterMembership} works with. */
export interface MembershipDeps {
  readonly node: RaftNode;
  readonly book: AddressBook;
  readonly clusterId: string;
  readonly logger: Logger;
  readonly metrics: NodeMetrics;
  /** One election timeout at most (ms): how long a transfer may take, and the unit of other waits. */
  readonly electionMs: number;
  /** How often the leader looks for learners to promote (ms). */
  readonly heartbeatMs: number;
  /** A learner within this many entries of the leader may be promoted. */
  readonly maxLearnerLag: number;
  /** Extra fetch options for calls to other members' APIs (an undici `dispatcher` trusting the cluster CA, for HTTPS). */
  readonly fetchOptions?: Record<string, unknown>;
}

const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
/** How long a change may take to commit before the caller is told it is unknown. */
const COMMIT_WAIT_MS = 20_000;
const POLL_MS = 10;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function httpCode(status: number): MembershipErrorCode {
  if (status === 400) return 'bad-request';
  if (status === 404) return 'not-found';
  if (status === 409) return 'conflict';
  return 'unavailable';
}

/**
 * The server's {@link MembershipApi}: on the leader it proposes configuration
 * changes and waits until they are committed (for a change of the voters,
 * until the joint configuration is left); on a follower it forwards the call
 * to the leader's HTTP API. It also promotes caught-up learners that asked to
 * be promoted (`autoPromote` in their context).
 */
export class ClusterMembership implements MembershipApi {
  private promoter: NodeJS.Timeout | null = null;
  private promoting = false;

  constructor(private readonly d: MembershipDeps) {}

  /** Starts the leader's periodic promotion of caught-up learners. */
  start(): void {
    this.promoter ??= setInterval(() => this.autoPromote(), Math.max(POLL_MS, this.d.heartbeatMs));
    this.promoter.unref();
  }

  stop(): void {
    if (this.promoter !== null) clearInterval(this.promoter);
    this.promoter = null;
  }

  // ---- MembershipApi --------------------------------------------------------------

  async list(caller: CallerContext = {}): Promise<MembersView> {
    const { node } = this.d;
    if (!node.isLeader()) {
      const leader = node.status().leader;
      const api = leader === null ? undefined : this.d.book.get(leader)?.api;
      if (api !== undefined) {
        try {
          return await this.call<MembersView>('GET', `${api}/v1/members`, undefined, 2000, caller);
        } catch {
          // fall back to what this node knows
        }
      }
    }
    return this.localView();
  }

  async add(req: AddMemberRequest, caller: CallerContext = {}): Promise<AddMemberResult> {
    if (typeof req.name !== 'string' || !NAME_RE.test(req.name)) throw new MembershipError('bad-request', `name: letters, digits, '.', '_' or '-' (1-64), got ${JSON.stringify(req.name)}`);
    try {
      parseHostPort(req.peerAddress, 'peerAddress');
    } catch (e) {
      throw new MembershipError('bad-request', (e as ConfigError).message);
    }
    if (!/^https?:\/\/[^/]+/.test(req.apiUrl)) throw new MembershipError('bad-request', `apiUrl: expected http://HOST:PORT, got ${JSON.stringify(req.apiUrl)}`);
    if (req.uid !== undefined && !/^[0-9a-f]{32}$/.test(req.uid)) throw new MembershipError('bad-request', 'uid: expected 32 hex digits');
    const { node, book } = this.d;
    if (!node.isLeader()) return this.call<AddMemberResult>('POST', `${this.leaderApi()}/v1/members`, req, undefined, caller);
    const conf = node.conf;
    const taken = book.idOf(req.name, conf);
    if (taken !== undefined) throw new MembershipError('conflict', `${req.name} is already a member (id ${taken}); remove it first, or choose another name`);
    const uid = req.uid ?? randomBytes(16).toString('hex');
    const id = book.newMemberId(req.name, uid, conf);
    const context = encodeMemberContext({ name: req.name, peer: req.peerAddress, api: req.apiUrl, uid: req.uid, autoPromote: !req.learner });
    // Known before the entry is persisted, so the transport can connect as soon as the configuration says so.
    book.learn(id, { name: req.name, peer: req.peerAddress, api: req.apiUrl });
    await this.change({ steps: [{ type: 'addLearner', id, context }] }, `add ${req.name} as a learner`);
    const view = this.localView();
    const member = view.members.find((m) => m.id === id);
    if (member === undefined) throw new MembershipError('unavailable', `${req.name} was added, then left the configuration`);
    return { member, clusterId: this.d.clusterId, members: view.members };
  }

  async promote(name: string, caller: CallerContext = {}): Promise<MemberView> {
    const { node } = this.d;
    if (!node.isLeader()) {
      const r = await this.call<{ member: MemberView } | MemberView>('POST', `${this.leaderApi()}/v1/members/${encodeURIComponent(name)}/promote`, {}, undefined, caller);
      return 'member' in r ? r.member : r;
    }
    const id = this.memberId(name);
    if (!node.conf.learners.includes(id)) throw new MembershipError('conflict', `${name} is already a voter`);
    await this.change({ steps: [{ type: 'promote', id }] }, `promote ${name}`);
    const m = this.localView().members.find((x) => x.id === id);
    if (m === undefined) throw new MembershipError('unavailable', `${name} left the configuration`);
    return m;
  }

  async remove(name: string, caller: CallerContext = {}): Promise<void> {
    const { node } = this.d;
    if (!node.isLeader()) {
      await this.call('DELETE', `${this.leaderApi()}/v1/members/${encodeURIComponent(name)}`, undefined, undefined, caller);
      return;
    }
    const id = this.memberId(name);
    if (id === node.id) {
      // A leader does not remove itself: it hands over first, and the new leader removes it.
      const { leader } = await this.transferLeader(null, caller);
      this.d.logger.info({ member: name, newLeader: leader }, 'leadership handed over before removing this node');
      await this.call('DELETE', `${this.leaderApi()}/v1/members/${encodeURIComponent(name)}`, undefined, undefined, caller);
      return;
    }
    await this.change({ steps: [{ type: 'remove', id }] }, `remove ${name}`);
  }

  async transferLeader(to: string | null, caller: CallerContext = {}): Promise<{ readonly leader: string }> {
    const { node, book, metrics } = this.d;
    if (!node.isLeader()) return this.call<{ leader: string }>('POST', `${this.leaderApi()}/v1/leader/transfer`, to === null ? {} : { to }, undefined, caller);
    if (to !== null && to === book.self.name) return { leader: to };
    const target = to === null ? null : this.memberId(to);
    let chosen: NodeId;
    try {
      chosen = node.transferLeader(target);
    } catch (e) {
      if (e instanceof ConfChangeError) throw new MembershipError('conflict', `cannot transfer leadership: ${e.message}`);
      throw e;
    }
    const targetName = book.nameOf(chosen) ?? String(chosen);
    this.d.logger.info({ to: targetName }, 'leadership transfer started');
    const deadline = Date.now() + 2 * this.d.electionMs + 500;
    while (Date.now() < deadline) {
      const leader = node.status().leader;
      if (!node.isLeader() && leader !== null && leader !== node.id) {
        metrics.transfers.inc({ outcome: leader === chosen ? 'succeeded' : 'other-leader' });
        const name = book.nameOf(leader) ?? String(leader);
        this.d.logger.info({ to: targetName, leader: name }, 'leadership transferred');
        return { leader: name };
      }
      await sleep(POLL_MS);
    }
    metrics.transfers.inc({ outcome: node.isLeader() ? 'abandoned' : 'no-leader' });
    throw new MembershipError('unavailable', `leadership transfer to ${targetName} did not complete within two election timeouts`);
  }

  // ---- the leader's work --------------------------------------------------------------

  /** Proposes `cc` and waits until it is final: committed, and for a change of voters, the joint configuration left. */
  private async change(cc: ConfChange, what: string): Promise<void> {
    const { node, logger } = this.d;
    let at: { index: number; term: number };
    try {
      at = node.proposeConfChange(cc);
    } catch (e) {
      if (e instanceof ConfChangeError) throw new MembershipError(/not the leader/.test(e.message) ? 'unavailable' : 'conflict', `cannot ${what}: ${e.message}`);
      throw e;
    }
    logger.info({ change: what, index: at.index }, 'configuration change proposed');
    const deadline = Date.now() + COMMIT_WAIT_MS;
    await this.waitCommitted(at, deadline, what);
    // A change of voters: the leader appends the entry leaving C_old,new by itself.
    while (isJoint(node.conf)) {
      if (Date.now() > deadline || node.stopped) throw new MembershipError('unavailable', `${what}: committed, but the joint configuration was not left in time; it will be`);
      await sleep(POLL_MS);
    }
    const last = node.status().lastIndex;
    while (node.status().commitIndex < last) {
      if (Date.now() > deadline || node.stopped) throw new MembershipError('unavailable', `${what}: committed, but leaving the joint configuration did not commit in time; it will be`);
      await sleep(POLL_MS);
    }
  }

  private async waitCommitted(at: { index: number; term: number }, deadline: number, what: string): Promise<void> {
    const { node } = this.d;
    for (;;) {
      const term = node.termAt(at.index);
      if (term !== undefined && term !== at.term) throw new MembershipError('unavailable', `${what}: leadership was lost and the change was undone; retry`);
      if (node.status().commitIndex >= at.index && (term === at.term || term === undefined)) return;
      if (Date.now() > deadline || node.stopped) throw new MembershipError('unavailable', `${what}: not committed within ${COMMIT_WAIT_MS} ms; it may still take effect: check the member list before retrying`);
      await sleep(POLL_MS);
    }
  }

  /** On the leader: promotes one learner that asked for it and has caught up. */
  private autoPromote(): void {
    const { node, book, logger } = this.d;
    if (this.promoting || !node.isLeader() || isJoint(node.conf)) return;
    const conf = node.conf;
    const progress = node.progress();
    const last = node.status().lastIndex;
    for (const id of conf.learners) {
      if (decodeMemberContext(conf.context[String(id)])?.autoPromote !== true) continue;
      const pr = progress.get(id);
      // Caught up: acknowledged entries and being replicated to normally, within the allowed lag.
      if (pr === undefined || pr.state !== 'replicate' || pr.match === 0 || last - pr.match > this.d.maxLearnerLag) continue;
      const name = book.nameOf(id) ?? String(id);
      this.promoting = true;
      logger.info({ member: name, match: pr.match, lastIndex: last }, 'promoting a caught-up learner to voter');
      this.change({ steps: [{ type: 'promote', id }] }, `promote ${name}`)
        .catch((e: unknown) => logger.debug({ member: name, err: (e as Error).message }, 'automatic promotion not done yet; will retry'))
        .finally(() => {
          this.promoting = false;
        });
      return;
    }
  }

  // ---- views and helpers ------------------------------------------------------------------

  /** The member list as this node knows it; match indexes only on the leader. */
  localView(): MembersView {
    const { node, book } = this.d;
    const conf = node.conf;
    const leader = node.status().leader;
    const progress = node.isLeader() ? node.progress() : null;
    const last = node.status().lastIndex;
    const view = (id: NodeId): MemberView => {
      const c = decodeMemberContext(conf.context[String(id)]);
      const known = book.get(id);
      const match = progress === null ? null : id === node.id ? last : (progress.get(id)?.match ?? 0);
      return {
        name: book.nameOf(id) ?? c?.name ?? String(id),
        id,
        role: conf.learners.includes(id) ? 'learner' : 'voter',
        peerAddress: id === node.id ? (this.selfPeer ?? '') : (c?.peer ?? known?.peer ?? ''),
        apiUrl: id === node.id ? (this.selfApi ?? '') : (c?.api ?? known?.api ?? ''),
        matchIndex: match,
        lag: match === null ? null : Math.max(0, last - match),
      };
    };
    return { members: members(conf).map(view), leader: leader === null ? null : (book.nameOf(leader) ?? String(leader)), joint: isJoint(conf) };
  }

  /** This node's own addresses, for views (set by the server once listening). */
  selfPeer: string | undefined;
  selfApi: string | undefined;

  private memberId(name: string): NodeId {
    const id = this.d.book.idOf(name, this.d.node.conf);
    if (id === undefined) throw new MembershipError('not-found', `no member is called ${name}`);
    return id;
  }

  private leaderApi(): string {
    const leader = this.d.node.status().leader;
    if (leader === null) throw new MembershipError('unavailable', 'the cluster has no leader at the moment; retry');
    const api = this.d.book.get(leader)?.api;
    if (api === undefined) throw new MembershipError('unavailable', `the API URL of the leader (${this.d.book.nameOf(leader) ?? leader}) is not known yet; retry`);
    return api;
  }

  /** A call to another member's API; its error answers become {@link MembershipError}s. */
  private async call<T>(method: string, url: string, body?: unknown, timeoutMs = COMMIT_WAIT_MS + 5000, caller: CallerContext = {}): Promise<T> {
    let res: Response;
    try {
      const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
      // The leader checks the caller's permission again: pass the caller's token on.
      if (caller.authorization !== undefined) headers['authorization'] = caller.authorization;
      res = await fetch(url, {
        method,
        headers,
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
        ...this.d.fetchOptions,
      } as RequestInit);
    } catch (e) {
      throw new MembershipError('unavailable', `the leader could not be reached at ${url}: ${(e as Error).message}`);
    }
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    if (!res.ok) {
      const msg = (parsed as { message?: unknown } | undefined)?.message;
      const why = typeof msg === 'string' ? msg : `${method} ${url}: HTTP ${res.status}`;
      // The leader refused the caller's token: answer the caller the same (401 or 403), not 503.
      if (res.status === 401 || res.status === 403) throw new AuthError(res.status === 401 ? 'unauthenticated' : 'permission-denied', why);
      throw new MembershipError(httpCode(res.status), why);
    }
    return parsed as T;
  }
}

/** The members of `conf` that the transport should be connected to, with their addresses. */
export function transportPeers(conf: ConfState, selfId: NodeId, book: AddressBook): Map<NodeId, { host: string; port: number }> {
  const out = new Map<NodeId, { host: string; port: number }>();
  for (const id of members(conf)) {
    if (id === selfId) continue;
    const a = book.peerAddress(id);
    if (a !== undefined) out.set(id, a);
  }
  return out;
}
