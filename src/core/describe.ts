import { MessageType, type Message } from './types.js';

/** The message types by their names in the Raft paper (and this project's additions). */
export const MESSAGE_NAMES: Record<MessageType, string> = {
  [MessageType.Vote]: 'RequestVote',
  [MessageType.VoteResp]: 'RequestVoteReply',
  [MessageType.App]: 'AppendEntries',
  [MessageType.AppResp]: 'AppendEntriesReply',
  [MessageType.Heartbeat]: 'Heartbeat',
  [MessageType.HeartbeatResp]: 'HeartbeatReply',
  [MessageType.Snap]: 'InstallSnapshot',
  [MessageType.SnapResp]: 'InstallSnapshotReply',
  [MessageType.ReadIndex]: 'ReadIndex',
  [MessageType.ReadIndexResp]: 'ReadIndexReply',
  [MessageType.Prop]: 'Propose',
  [MessageType.PreVote]: 'PreVote',
  [MessageType.PreVoteResp]: 'PreVoteReply',
  [MessageType.TimeoutNow]: 'TimeoutNow',
};

/**
 * One message in words, for traces: its type by name, its term and the
 * fields that matter, e.g. `AppendEntries t4 prev 7@3 [8..12] commit 7`,
 * `RequestVote t5 last 12@4`, `AppendEntriesReply t4 rejected 7 hint 5@3`.
 * `index@term` names a log position. Sender and receiver are the caller's to add.
 */
export function describeMessage(m: Message): string {
  const head = `${MESSAGE_NAMES[m.type] ?? `type ${String(m.type)}`} t${m.term}`;
  switch (m.type) {
    case MessageType.Vote:
      return `${head} last ${m.lastIndex}@${m.lastTerm}${m.transfer === true ? ' (transfer)' : ''}`;
    case MessageType.PreVote:
      return `${head} last ${m.lastIndex}@${m.lastTerm}`;
    case MessageType.VoteResp:
    case MessageType.PreVoteResp:
      return `${head} ${m.granted ? 'granted' : 'rejected'}`;
    case MessageType.App: {
      const n = m.entries.length;
      const range = n === 0 ? '[]' : n === 1 ? `[${m.entries[0]!.index}]` : `[${m.entries[0]!.index}..${m.entries[n - 1]!.index}]`;
      return `${head} prev ${m.prevIndex}@${m.prevTerm} ${range} commit ${m.commit}`;
    }
    case MessageType.AppResp:
      return m.success ? `${head} ok ${m.index}` : `${head} rejected ${m.index} hint ${m.hintIndex}@${m.hintTerm}`;
    case MessageType.Heartbeat:
      return `${head} commit ${m.commit} round ${m.ctx}`;
    case MessageType.HeartbeatResp:
      return `${head} round ${m.ctx}`;
    case MessageType.Snap:
      return `${head} snapshot ${m.meta.index}@${m.meta.term} bytes ${m.offset}..${m.offset + m.data.length} of ${m.size}`;
    case MessageType.SnapResp:
      return `${head} snapshot ${m.snapIndex} ${m.done ? `done, match ${m.index}` : `have ${m.offset} bytes`}`;
    case MessageType.ReadIndex:
      return `${head} read ${m.ctx}${m.lease === true ? ' (lease)' : ''}`;
    case MessageType.ReadIndexResp:
      return `${head} read ${m.ctx} ${m.index < 0 ? 'refused' : `index ${m.index}`}`;
    case MessageType.Prop:
      return `${head} ${m.data.length} command${m.data.length === 1 ? '' : 's'}`;
    case MessageType.TimeoutNow:
      return `${head} last ${m.lastIndex}`;
  }
}
