import { MessageType, type AppRespMsg, type HeartbeatMsg, type Message, type NodeId, type PreVoteMsg, type PreVoteRespMsg, type VoteMsg, type VoteRespMsg } from './types.js';

/** The answer to a vote or pre-vote request, in kind, in `term`: ours, or a granted pre-vote's own. */
export function voteReply(self: NodeId, m: VoteMsg | PreVoteMsg, granted: boolean, term: number): VoteRespMsg | PreVoteRespMsg {
  const type = m.type === MessageType.PreVote ? MessageType.PreVoteResp : MessageType.VoteResp;
  return { type, term, from: self, to: m.from, granted };
}

/**
 * Figure 2's "reply false if term < currentTerm": the refusal of a request from
 * an older term, carrying our term so the sender steps down. `rpc` tells
 * whether it answers an RPC (a one-way read request is refused by a message of
 * its own). Undefined for a response of an older term: it tells nothing.
 */
export function staleReply(self: NodeId, term: number, m: Message): { readonly reply: Message; readonly rpc: boolean } | undefined {
  const base = { term, from: self, to: m.from };
  switch (m.type) {
    case MessageType.Vote:
    case MessageType.PreVote:
      return { reply: voteReply(self, m, false, term), rpc: true };
    case MessageType.App:
      return { reply: { ...base, type: MessageType.AppResp, success: false, index: m.prevIndex, hintTerm: 0, hintIndex: 0 }, rpc: true };
    case MessageType.Heartbeat:
      return { reply: { ...base, type: MessageType.HeartbeatResp, ctx: m.ctx }, rpc: true };
    case MessageType.ReadIndex:
      return { reply: { ...base, type: MessageType.ReadIndexResp, ctx: m.ctx, index: -1 }, rpc: false };
    case MessageType.Snap:
      return { reply: { ...base, type: MessageType.SnapResp, snapIndex: m.meta.index, offset: 0, done: false, index: 0 }, rpc: true };
    default:
      return undefined;
  }
}

/** Messages only a leader sends. */
export function isLeaderMessage(m: Message): boolean {
  return m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap || m.type === MessageType.TimeoutNow;
}

/** A follower's answer to a heartbeat claiming entries beyond its log: where its log ends, so the leader catches it up. */
export function lostEntriesReply(self: NodeId, term: number, m: HeartbeatMsg, lastIndex: number): AppRespMsg {
  return { type: MessageType.AppResp, term, from: self, to: m.from, success: false, index: m.commit, hintTerm: 0, hintIndex: lastIndex + 1 };
}
