import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MESSAGE_NAMES, describeMessage } from '../../src/core/describe.js';
import { EntryType, MessageType, type Message } from '../../src/core/types.js';

const e = (index: number, term: number) => ({ index, term, type: EntryType.Normal, data: new Uint8Array(0) });

test('every message type has a name', () => {
  for (const t of Object.values(MessageType)) assert.ok(typeof MESSAGE_NAMES[t] === 'string' && MESSAGE_NAMES[t].length > 0, `type ${t}`);
});

test('messages in words: type by name, term, and the fields that matter', () => {
  const cases: [Message, string][] = [
    [{ type: MessageType.Vote, from: 1, to: 2, term: 5, lastIndex: 12, lastTerm: 4 }, 'RequestVote t5 last 12@4'],
    [{ type: MessageType.Vote, from: 1, to: 2, term: 5, lastIndex: 12, lastTerm: 4, transfer: true }, 'RequestVote t5 last 12@4 (transfer)'],
    [{ type: MessageType.VoteResp, from: 2, to: 1, term: 5, granted: false }, 'RequestVoteReply t5 rejected'],
    [{ type: MessageType.PreVote, from: 1, to: 2, term: 6, lastIndex: 3, lastTerm: 2 }, 'PreVote t6 last 3@2'],
    [{ type: MessageType.PreVoteResp, from: 2, to: 1, term: 6, granted: true }, 'PreVoteReply t6 granted'],
    [{ type: MessageType.App, from: 0, to: 1, term: 4, prevIndex: 7, prevTerm: 3, entries: [e(8, 4), e(9, 4), e(12, 4)], commit: 7 }, 'AppendEntries t4 prev 7@3 [8..12] commit 7'],
    [{ type: MessageType.App, from: 0, to: 1, term: 4, prevIndex: 7, prevTerm: 3, entries: [e(8, 4)], commit: 7 }, 'AppendEntries t4 prev 7@3 [8] commit 7'],
    [{ type: MessageType.App, from: 0, to: 1, term: 4, prevIndex: 7, prevTerm: 3, entries: [], commit: 7 }, 'AppendEntries t4 prev 7@3 [] commit 7'],
    [{ type: MessageType.AppResp, from: 1, to: 0, term: 4, success: true, index: 12, hintTerm: 0, hintIndex: 0 }, 'AppendEntriesReply t4 ok 12'],
    [{ type: MessageType.AppResp, from: 1, to: 0, term: 4, success: false, index: 7, hintTerm: 3, hintIndex: 5 }, 'AppendEntriesReply t4 rejected 7 hint 5@3'],
    [{ type: MessageType.Heartbeat, from: 0, to: 1, term: 4, commit: 9, ctx: 3 }, 'Heartbeat t4 commit 9 round 3'],
    [{ type: MessageType.HeartbeatResp, from: 1, to: 0, term: 4, ctx: 3 }, 'HeartbeatReply t4 round 3'],
    [{ type: MessageType.Snap, from: 0, to: 1, term: 4, meta: { index: 20, term: 3 }, offset: 0, data: new Uint8Array(10), size: 30 }, 'InstallSnapshot t4 snapshot 20@3 bytes 0..10 of 30'],
    [{ type: MessageType.SnapResp, from: 1, to: 0, term: 4, snapIndex: 20, offset: 10, done: false, index: 0 }, 'InstallSnapshotReply t4 snapshot 20 have 10 bytes'],
    [{ type: MessageType.SnapResp, from: 1, to: 0, term: 4, snapIndex: 20, offset: 30, done: true, index: 20 }, 'InstallSnapshotReply t4 snapshot 20 done, match 20'],
    [{ type: MessageType.ReadIndex, from: 1, to: 0, term: 4, ctx: 8, lease: true }, 'ReadIndex t4 read 8 (lease)'],
    [{ type: MessageType.ReadIndexResp, from: 0, to: 1, term: 4, ctx: 8, index: -1 }, 'ReadIndexReply t4 read 8 refused'],
    [{ type: MessageType.ReadIndexResp, from: 0, to: 1, term: 4, ctx: 8, index: 15 }, 'ReadIndexReply t4 read 8 index 15'],
    [{ type: MessageType.Prop, from: 1, to: 0, term: 4, data: [new Uint8Array(1), new Uint8Array(2)] }, 'Propose t4 2 commands'],
    [{ type: MessageType.TimeoutNow, from: 0, to: 2, term: 4, lastIndex: 30 }, 'TimeoutNow t4 last 30'],
  ];
  for (const [m, want] of cases) assert.equal(describeMessage(m), want);
});
