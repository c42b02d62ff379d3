import { members } from '../core/membership.js';
import type { ConfState, NodeId } from '../core/types.js';
import type { Logger } from '../util/log.js';
import { nodeIdOf, parseHostPort, type HostPort } from './config.js';
import { decodeMemberContext } from './member-context.js';
import { writeMeta, type KnownPeer, type Meta } from './meta.js';

/**
 * This node's knowledge of the other members, kept in meta.json: names and
 * addresses (from `--peers` for a bootstrap cluster, from the join answer, and
 * from the replicated configuration's member contexts), and the data-directory
 * uid first seen for each peer id (trust on first use). Every change is
 * written to disk before it is acted on.
 */
export class AddressBook {
  private meta: Meta;

  constructor(
    private readonly dataDir: string,
    meta: Meta,
    private readonly logger: Logger,
  ) {
    this.meta = meta;
  }

  get self(): Meta {
    return this.meta;
  }

  nameOf(id: NodeId): string | undefined {
    if (id === this.meta.id) return this.meta.name;
    return this.meta.peers[String(id)]?.name;
  }

  /** The id of the member called `name` in `conf`, if any. */
  idOf(name: string, conf: ConfState): NodeId | undefined {
    return members(conf).find((id) => this.nameOf(id) === name);
  }

  get(id: NodeId): KnownPeer | undefined {
    return this.meta.peers[String(id)];
  }

  /** Where `id`'s transport listens, if known. */
  peerAddress(id: NodeId): HostPort | undefined {
    const p = this.get(id);
    if (p === undefined) return undefined;
    try {
      return parseHostPort(p.peer, `address of ${p.name}`);
    } catch {
      return undefined;
    }
  }

  /** Every known peer id (not this node). */
  ids(): NodeId[] {
    return Object.keys(this.meta.peers).map(Number);
  }

  /** Records (or updates) a member's name and addresses. */
  learn(id: NodeId, p: KnownPeer): void {
    if (id === this.meta.id) return;
    const old = this.meta.peers[String(id)];
    const next: KnownPeer = { name: p.name, peer: p.peer, api: p.api ?? old?.api };
    if (old !== undefined && old.name === next.name && old.peer === next.peer && old.api === next.api) return;
    this.save({ ...this.meta, peers: { ...this.meta.peers, [String(id)]: next } });
  }

  /** Learns every member's name and addresses from the configuration's contexts. */
  learnConf(conf: ConfState): void {
    for (const id of members(conf)) {
      const c = decodeMemberContext(conf.context[String(id)]);
      if (c !== null) this.learn(id, { name: c.name, peer: c.peer, api: c.api });
    }
  }

  /** The uid `id` is known by: its member context's, else the first one seen. */
  expectedUid(id: NodeId, conf: ConfState): string | undefined {
    return decodeMemberContext(conf.context[String(id)])?.uid ?? this.meta.trusted[String(id)];
  }

  /**
   * Checks the uid a peer presents. Returns null if it is the one it is known
   * by (recording it durably if this is the first sight), or the reason to
   * refuse it. A peer that presents no uid (an older version) is accepted.
   */
  verify(id: NodeId, uid: string | undefined, apiUrl: string | undefined, conf: ConfState): string | null {
    if (uid === undefined) return null;
    const want = this.expectedUid(id, conf);
    if (want !== undefined && want !== uid) {
      return `this node's data directory is not the one the cluster knows as ${this.nameOf(id) ?? `node ${id}`}`;
    }
    let next = this.meta;
    if (want === undefined) next = { ...next, trusted: { ...next.trusted, [String(id)]: uid } };
    const known = next.peers[String(id)];
    if (apiUrl !== undefined && known !== undefined && known.api !== apiUrl) next = { ...next, peers: { ...next.peers, [String(id)]: { ...known, api: apiUrl } } };
    if (next !== this.meta) this.save(next);
    return null;
  }

  /** A fresh id for a member joining under `name`: never one in use, derived from its uid. */
  newMemberId(name: string, uid: string, conf: ConfState): NodeId {
    const taken = new Set<NodeId>([this.meta.id, ...members(conf), ...this.ids()]);
    for (let k = 0; ; k++) {
      const id = nodeIdOf(k === 0 ? `${name}#${uid}` : `${name}#${uid}#${k}`);
      if (!taken.has(id)) return id;
    }
  }

  private save(next: Meta): void {
    writeMeta(this.dataDir, next);
    this.meta = next;
    this.logger.debug({ peers: Object.keys(next.peers).length }, 'meta.json updated');
  }
}
