import {
  EntryType,
  MessageType,
  type AppMsg,
  type AppRespMsg,
  type ConfState,
  type Entry,
  type HeartbeatMsg,
  type HeartbeatRespMsg,
  type Message,
  type NodeId,
  type ReadIndexMsg,
  type ReadIndexRespMsg,
  type PropMsg,
  type PreVoteMsg,
  type PreVoteRespMsg,
  type SnapMsg,
  type SnapRespMsg,
  type SnapshotMeta,
  type TimeoutNowMsg,
  type VoteMsg,
  type VoteRespMsg,
} from '../core/types.js';

/** The largest snapshot a node accepts: Node's largest `Buffer` (4 GiB). */
export const MAX_SNAPSHOT_BYTES = 2 ** 32;

/**
 * Checks of what arrives from the network before it reaches the Raft core.
 *
 * The core trusts its inputs: a message with a string term, a missing entry
 * array or a gap in entry indexes would break its invariants (or throw from
 * deep inside it) instead of being rejected. Decoded msgpack is `unknown`, so
 * every field of every variant is checked here, and a fresh object holding
 * exactly the known fields is returned: nothing a peer adds travels further.
 */

/** A decoded message that is not a well-formed {@link Message}; `field` is the path of the first bad field. */
export class MessageValidationError extends Error {
  override name = 'MessageValidationError';
  constructor(
    /** Path of the offending field, e.g. `entries[2].index`; empty for the message itself. */
    readonly field: string,
    /** What was wrong with it. */
    readonly problem: string,
  ) {
    super(field === '' ? `invalid message: ${problem}` : `invalid message: field ${field}: ${problem}`);
  }
}

type Rec = Readonly<Record<string, unknown>>;

function isRecord(x: unknown): x is Rec {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return `a string of length ${v.length}`;
  return `a ${typeof v}`;
}

/** Reads fields of one object, naming them by path in errors. */
class Fields {
  constructor(
    private readonly obj: Rec,
    private readonly path: string,
  ) {}

  static of(x: unknown, path: string): Fields {
    if (!isRecord(x)) throw new MessageValidationError(path, `expected an object, got ${describe(x)}`);
    return new Fields(x, path);
  }

  name(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  /** The own property `key`: a peer cannot make a field "present" through the prototype. */
  raw(key: string): unknown {
    return Object.hasOwn(this.obj, key) ? this.obj[key] : undefined;
  }

  /** A safe integer >= `min` (0 unless a sentinel such as -1 is allowed). */
  int(key: string, min = 0): number {
    const v = this.raw(key);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      throw new MessageValidationError(this.name(key), `expected ${min === 0 ? 'a non-negative' : `an >= ${min}`} safe integer, got ${describe(v)}`);
    }
    return v;
  }

  bool(key: string): boolean {
    const v = this.raw(key);
    if (typeof v !== 'boolean') throw new MessageValidationError(this.name(key), `expected a boolean, got ${describe(v)}`);
    return v;
  }

  bytes(key: string): Uint8Array {
    const v = this.raw(key);
    if (!(v instanceof Uint8Array)) throw new MessageValidationError(this.name(key), `expected bytes, got ${describe(v)}`);
    return v;
  }

  array(key: string): readonly unknown[] {
    const v = this.raw(key);
    if (!Array.isArray(v)) throw new MessageValidationError(this.name(key), `expected an array, got ${describe(v)}`);
    return v;
  }

  child(key: string): Fields {
    return Fields.of(this.raw(key), this.name(key));
  }
}

const entryTypes: ReadonlySet<unknown> = new Set(Object.values(EntryType));
const messageTypes: ReadonlySet<unknown> = new Set(Object.values(MessageType));

function snapshotMeta(f: Fields): SnapshotMeta {
  const index = f.int('index');
  const term = f.int('term');
  return f.raw('conf') === undefined ? { index, term } : { index, term, conf: confState(f.child('conf')) };
}

function nodeIds(f: Fields, key: string): NodeId[] {
  // Array.from, not map: map skips the holes of a sparse array, which would pass unchecked.
  return Array.from(f.array(key), (v, i) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new MessageValidationError(`${f.name(key)}[${i}]`, `expected a node id, got ${describe(v)}`);
    return v;
  });
}

/** A configuration: voters, outgoing voters, learners, and a string per member. */
function confState(f: Fields): ConfState {
  const ctx = f.child('context');
  const context: Record<string, string> = {};
  for (const key of Object.keys(f.raw('context') as Rec)) {
    const v = ctx.raw(key);
    if (typeof v !== 'string') throw new MessageValidationError(ctx.name(key), `expected a string, got ${describe(v)}`);
    context[key] = v;
  }
  const voters = nodeIds(f, 'voters');
  if (voters.length === 0) throw new MessageValidationError(f.name('voters'), 'a configuration has at least one voter');
  return { voters, outgoing: nodeIds(f, 'outgoing'), learners: nodeIds(f, 'learners'), context };
}

/**
 * Entries of an append. Besides the shape of each entry, checks what the core
 * relies on without checking: indexes run consecutively from `prevIndex + 1`
 * (it computes the last new index as `prevIndex + entries.length`), and terms
 * never decrease, start no lower than `prevTerm` and end no higher than the
 * message's term (every leader's log looks like that).
 */
function entries(f: Fields, prevIndex: number, prevTerm: number, term: number): Entry[] {
  const raw = f.array('entries');
  const out: Entry[] = new Array<Entry>(raw.length);
  let lastTerm = prevTerm;
  for (let i = 0; i < raw.length; i++) {
    const e = Fields.of(raw[i], `entries[${i}]`);
    const index = e.int('index');
    if (index !== prevIndex + 1 + i) {
      throw new MessageValidationError(e.name('index'), `expected ${prevIndex + 1 + i} (entries follow prevIndex ${prevIndex} consecutively), got ${index}`);
    }
    const entryTerm = e.int('term');
    if (entryTerm < lastTerm) throw new MessageValidationError(e.name('term'), `terms must not decrease: ${entryTerm} after ${lastTerm}`);
    if (entryTerm > term) throw new MessageValidationError(e.name('term'), `entry term ${entryTerm} is above the message's term ${term}`);
    lastTerm = entryTerm;
    const type = e.raw('type');
    if (!entryTypes.has(type)) throw new MessageValidationError(e.name('type'), `expected an entry type (${[...entryTypes].join(' or ')}), got ${describe(type)}`);
    out[i] = { index, term: entryTerm, type: type as EntryType, data: e.bytes('data') };
  }
  return out;
}

/**
 * Checks that `x` (typically freshly decoded from the wire) is a well-formed
 * {@link Message} and returns a clean copy holding only its known fields.
 * Byte arrays are not copied.
 *
 * @throws {@link MessageValidationError} naming the first offending field.
 */
export function validateMessage(x: unknown): Message {
  const f = Fields.of(x, '');
  const type = f.raw('type');
  if (!messageTypes.has(type)) throw new MessageValidationError('type', `expected a message type (1 to 14), got ${describe(type)}`);
  const term = f.int('term');
  const from = f.int('from');
  const to = f.int('to');
  switch (type) {
    case MessageType.Vote:
      return { type, term, from, to, lastIndex: f.int('lastIndex'), lastTerm: f.int('lastTerm'), ...(f.raw('transfer') !== undefined && { transfer: f.bool('transfer') }) } satisfies VoteMsg;
    case MessageType.VoteResp:
      return { type, term, from, to, granted: f.bool('granted') } satisfies VoteRespMsg;
    case MessageType.App: {
      const prevIndex = f.int('prevIndex');
      const prevTerm = f.int('prevTerm');
      if (prevTerm > term) throw new MessageValidationError('prevTerm', `${prevTerm} is above the message's term ${term}`);
      const es = entries(f, prevIndex, prevTerm, term);
      return { type, term, from, to, prevIndex, prevTerm, entries: es, commit: f.int('commit') } satisfies AppMsg;
    }
    case MessageType.AppResp:
      return {
        type,
        term,
        from,
        to,
        success: f.bool('success'),
        index: f.int('index'),
        hintTerm: f.int('hintTerm'),
        hintIndex: f.int('hintIndex'),
      } satisfies AppRespMsg;
    case MessageType.Heartbeat:
      return { type, term, from, to, commit: f.int('commit'), ctx: f.int('ctx') } satisfies HeartbeatMsg;
    case MessageType.HeartbeatResp:
      return { type, term, from, to, ctx: f.int('ctx') } satisfies HeartbeatRespMsg;
    case MessageType.Snap: {
      const meta = snapshotMeta(f.child('meta'));
      if (meta.term > term) throw new MessageValidationError('meta.term', `${meta.term} is above the message's term ${term}`);
      const offset = f.int('offset');
      const data = f.bytes('data');
      const size = f.int('size');
      // The receiver allocates the whole snapshot when the first chunk arrives.
      if (size > MAX_SNAPSHOT_BYTES) throw new MessageValidationError('size', `a snapshot of ${size} bytes is larger than a node can hold (${MAX_SNAPSHOT_BYTES} bytes, Node's largest buffer)`);
      // The core checks this too, but only on its happy path; a chunk that
      // claims to extend past the snapshot is nonsense whatever the state.
      if (offset + data.length > size) {
        throw new MessageValidationError('data', `chunk at offset ${offset} with ${data.length} bytes extends past the snapshot size ${size}`);
      }
      return { type, term, from, to, meta, offset, data, size } satisfies SnapMsg;
    }
    case MessageType.SnapResp:
      return {
        type,
        term,
        from,
        to,
        snapIndex: f.int('snapIndex'),
        offset: f.int('offset'),
        done: f.bool('done'),
        index: f.int('index'),
      } satisfies SnapRespMsg;
    case MessageType.ReadIndex:
      return { type, term, from, to, ctx: f.int('ctx'), ...(f.raw('lease') !== undefined && { lease: f.bool('lease') }) } satisfies ReadIndexMsg;
    case MessageType.ReadIndexResp:
      // -1: the leader refused the read (it is not the leader any more).
      return { type, term, from, to, ctx: f.int('ctx'), index: f.int('index', -1) } satisfies ReadIndexRespMsg;
    case MessageType.Prop: {
      const raw = f.array('data');
      const data = Array.from(raw, (d, i) => {
        if (!(d instanceof Uint8Array)) throw new MessageValidationError(`data[${i}]`, `expected bytes, got ${describe(d)}`);
        return d;
      });
      return { type, term, from, to, data } satisfies PropMsg;
    }
    case MessageType.PreVote:
      return { type, term, from, to, lastIndex: f.int('lastIndex'), lastTerm: f.int('lastTerm') } satisfies PreVoteMsg;
    case MessageType.PreVoteResp:
      return { type, term, from, to, granted: f.bool('granted') } satisfies PreVoteRespMsg;
    case MessageType.TimeoutNow:
      return { type, term, from, to, lastIndex: f.int('lastIndex') } satisfies TimeoutNowMsg;
    default:
      // Unreachable: `messageTypes` holds exactly the cases above.
      throw new MessageValidationError('type', `unhandled message type ${describe(type)}`);
  }
}
