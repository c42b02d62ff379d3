import { LOG_TAIL, type EventsMember, type EventsNodeState, type EventsPeerProgress } from '../api/events-format.js';
import { MESSAGE_NAMES } from '../core/describe.js';
import type { MessageType, NodeId } from '../core/types.js';
import type { RaftNode } from '../node/raft-node.js';
import type { Replica } from '../node/replica.js';
import type { TcpTransport } from '../transport/tcp.js';
import type { AddressBook } from './address-book.js';
import type { EventsCounters } from './events.js';
import { decodeMemberContext } from './member-context.js';
import type { MessageCounter } from './message-counter.js';

/** The running node's parts the events stream reads. */
export interface EventsParts {
  readonly node: RaftNode;
  readonly replica: Replica<unknown>;
  readonly book: AddressBook;
  readonly transport: TcpTransport;
  readonly counter: MessageCounter;
  /** This node's API URL. */
  readonly selfApi: string;
  /** HTTP requests received since start. */
  readonly requests: () => number;
  /** Writes proposed through this node since start. */
  readonly proposals: () => number;
}

/** Reads what `GET /v1/events` reports from a running node's parts (no I/O; called on the hub's timer). */
export function eventsSource(p: EventsParts): { state(): Omit<EventsNodeState, 'rates'>; counters(): EventsCounters; memberUrls(): string[] } {
  const { node, book } = p;
  const selfId = node.id;
  const name = (id: NodeId): string => book.nameOf(id) ?? decodeMemberContext(node.conf.context[String(id)])?.name ?? String(id);
  const apiOf = (id: NodeId): string | null => (id === selfId ? p.selfApi : (book.get(id)?.api ?? decodeMemberContext(node.conf.context[String(id)])?.api ?? null));
  const members = (): EventsMember[] => {
    const conf = node.conf;
    const out: EventsMember[] = [];
    const seen = new Set<NodeId>();
    const add = (id: NodeId, role: 'voter' | 'learner', outgoing: boolean): void => {
      if (seen.has(id)) return;
      seen.add(id);
      out.push({ id: name(id), nodeId: id, role, outgoing, apiUrl: apiOf(id) });
    };
    for (const id of conf.voters) add(id, 'voter', false);
    for (const id of conf.outgoing) add(id, 'voter', true);
    for (const id of conf.learners) add(id, 'learner', false);
    return out;
  };
  return {
    state() {
      const st = node.status();
      const peers: EventsPeerProgress[] = [];
      if (st.role === 'leader') {
        for (const [id, pr] of node.progress()) {
          if (id !== selfId) peers.push({ id: name(id), match: pr.match, next: pr.next, state: pr.state, lag: Math.max(0, st.lastIndex - pr.match) });
        }
      }
      const log: [number, number][] = [];
      for (let i = Math.max(st.snapshotIndex + 1, st.lastIndex - LOG_TAIL + 1); i <= st.lastIndex; i++) log.push([i, node.termAt(i) ?? 0]);
      const vote = node.vote;
      return {
        id: name(selfId),
        nodeId: selfId,
        role: st.role,
        term: st.term,
        leader: st.leader === null ? null : name(st.leader),
        vote: vote === null || vote === 0 ? null : name(vote),
        commit: st.commitIndex,
        applied: p.replica.applied,
        lastIndex: st.lastIndex,
        lastTerm: node.termAt(st.lastIndex) ?? 0,
        snapshotIndex: st.snapshotIndex,
        apiUrl: p.selfApi,
        members: members(),
        peers,
        log,
      };
    },
    counters() {
      const sent = new Map<string, Map<string, number>>();
      for (const [id, counts] of p.counter.read()) {
        const byType = new Map<string, number>();
        counts.forEach((n, t) => {
          if (n > 0) byType.set(MESSAGE_NAMES[t as MessageType] ?? `type${t}`, n);
        });
        sent.set(name(id), byType);
      }
      const received = new Map<string, number>();
      for (const [id, s] of p.transport.stats()) received.set(name(id), s.received);
      return { applied: p.replica.applied, requests: p.requests(), proposals: p.proposals(), sent, received };
    },
    memberUrls() {
      return members()
        .map((m) => m.apiUrl)
        .filter((u): u is string => u !== null);
    },
  };
}
