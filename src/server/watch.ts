/**
 * `GET /v1/watch`: server-sent-event streams of the changes under a key
 * prefix, from the node's {@link WatchHistory} (docs/API.md, "Watch").
 *
 * The apply path only appends to the history; the history's `onChange` asks
 * for one delivery pass on the next turn of the event loop (setImmediate), so
 * however many changes a turn applies and however many watchers there are,
 * fan-out happens off the apply path, once per turn, and, when passes get
 * expensive, at most a set share of the event loop's time (each pass costs one
 * socket write per watcher: with hundreds of watchers and a write every
 * millisecond that would be most of the process). Each watcher keeps only
 * a cursor (the next revision it needs): unsent changes stay in the shared
 * history. A watcher whose socket holds more than the bound of unsent bytes
 * is paused until it drains; if the history drops a change it still needs, it
 * is cut with an `error` event (`slow-watcher`) rather than skipped past.
 */
import type { ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { WatchCompactedError, type WatchChange, type WatchHistory } from '../kv/watch-history.js';
import type { Logger } from '../util/log.js';

/** Why a stream was ended by the node: the `error` field of the last (`error`) event. */
export type WatchCutReason = 'compacted' | 'slow-watcher' | 'unauthenticated' | 'permission-denied' | 'stopping';

/** What a watcher asked for (`GET /v1/watch?prefix=P&fromRevision=R`). */
export interface WatchRequest {
  readonly prefix: string;
  /** The first revision to send (inclusive); undefined: the next revision this node applies. */
  readonly fromRevision?: number | undefined;
  /** Re-checked before each delivery while auth is on: null while the watcher may still read the prefix. */
  readonly allowed?: () => { readonly error: 'unauthenticated' | 'permission-denied'; readonly message: string } | null;
}

export interface WatchHubOptions {
  readonly history: WatchHistory;
  /** The revision (log index) this node has applied. */
  readonly revision: () => number;
  readonly logger: Logger;
  /** How often each stream gets a `progress` event (ms). Default 1000. */
  readonly progressMs?: number;
  /** Unsent bytes a watcher's socket may hold before the watcher is paused until it drains. Default 1 MiB. */
  readonly maxBufferedBytes?: number;
  /** Streams open at once; more are refused with 503. Default 10,000. */
  readonly maxWatchers?: number;
  /** A cut stream whose client does not read its last bytes is destroyed after this (ms). Default 5000. */
  readonly closeGraceMs?: number;
  /**
   * The share of the event loop's time delivery passes may take (0 < share <= 1, default 0.25):
   * after a pass that took t ms, the next waits t × (1/share − 1) ms (at most {@link maxPassDelayMs}),
   * so under load watchers get fewer, larger writes, and writes keep the rest of the loop.
   */
  readonly deliveryShare?: number;
  /** The longest wait between two passes that the share may impose (ms). Default 50. */
  readonly maxPassDelayMs?: number;
}

interface Watcher {
  readonly out: Writable;
  readonly prefix: string;
  readonly allowed: WatchRequest['allowed'];
  /** The next revision this watcher needs. */
  next: number;
  /** Paused until its socket drains. */
  waiting: boolean;
}

/** The frames of a run of changes for one watcher (see WatchHub.frames). */
interface Frames {
  readonly text: string;
  /** Change events in `text`. */
  readonly sent: number;
  /** The cursor after them (-1: the history has nothing past the cursor). */
  readonly next: number;
  /** Stopped at the buffer bound, between revisions: the watcher waits for its socket to drain. */
  readonly full: boolean;
}

/** A pass's frames for every watcher of one prefix at one cursor, and their bytes, encoded once (null: none, or too many to share). */
interface Shared extends Frames {
  readonly bytes: Buffer | null;
}

/** Counts of what the hub did (tests, the log). */
export interface WatchHubStats {
  readonly watchers: number;
  /** Streams cut by the node, by reason. */
  readonly cut: Readonly<Record<WatchCutReason, number>>;
  /** Change events written, over every stream. */
  readonly sent: number;
  /** Delivery passes (each writes once to every watcher that has something new). */
  readonly passes: number;
  readonly refused: number;
}

/** A stream could not be opened: the hub is closed or full. */
export class WatchUnavailableError extends Error {
  override name = 'WatchUnavailableError';
}

/** One server-sent event; JSON has no raw newlines, so the data is one line. */
function frame(event: string, data: unknown, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * The event of a change, as sent to every watcher of its key (made once per
 * change and form). `last`: the last change of its revision this watcher
 * gets, which alone carries the `id:` line. A transaction makes several
 * changes at one revision: a client whose stream breaks after some of them
 * must not resume at that revision + 1, so the id (what EventSource resumes
 * from, and what a client may take as "revision complete") only comes once
 * the revision's last change under the prefix was sent.
 */
const lastFrames = new WeakMap<WatchChange, string>();
const innerFrames = new WeakMap<WatchChange, string>();
function changeFrame(c: WatchChange, last: boolean): string {
  const cache = last ? lastFrames : innerFrames;
  let f = cache.get(c);
  if (f === undefined) {
    f = frame(c.type, c, last ? c.revision : undefined);
    cache.set(c, f);
  }
  return f;
}

/** The watch streams of one node. */
export class WatchHub {
  private readonly watchers = new Set<Watcher>();
  private readonly history: WatchHistory;
  private readonly progressMs: number;
  private readonly maxBuffered: number;
  private readonly maxWatchers: number;
  private readonly closeGraceMs: number;
  private scheduled = false;
  private readonly deliveryShare: number;
  private readonly maxPassDelayMs: number;
  /** When (performance.now()) the next pass may start, by the delivery share. */
  private nextPassAt = 0;
  private progressTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly cutCounts: Record<WatchCutReason, number> = { compacted: 0, 'slow-watcher': 0, unauthenticated: 0, 'permission-denied': 0, stopping: 0 };
  private sentCount = 0;
  private passCount = 0;
  private refusedCount = 0;

  constructor(private readonly opts: WatchHubOptions) {
    this.history = opts.history;
    this.progressMs = opts.progressMs ?? 1000;
    this.maxBuffered = opts.maxBufferedBytes ?? 1 << 20;
    this.maxWatchers = opts.maxWatchers ?? 10_000;
    this.closeGraceMs = opts.closeGraceMs ?? 5000;
    this.deliveryShare = opts.deliveryShare ?? 0.25;
    if (!(this.deliveryShare > 0 && this.deliveryShare <= 1)) throw new RangeError(`deliveryShare must be in (0, 1], got ${this.deliveryShare}`);
    this.maxPassDelayMs = opts.maxPassDelayMs ?? 50;
    this.history.onChange = () => this.schedule();
  }

  get stats(): WatchHubStats {
    return { watchers: this.watchers.size, cut: { ...this.cutCounts }, sent: this.sentCount, passes: this.passCount, refused: this.refusedCount };
  }

  /**
   * Answers `GET /v1/watch` on `res`. Throws, before anything is written,
   * {@link WatchCompactedError} if `fromRevision` is older than the history
   * holds, and {@link WatchUnavailableError} if the node is shutting down or
   * serves its maximum of streams.
   */
  serve(res: ServerResponse, w: WatchRequest): void {
    this.open(res, w, (headers) => {
      // `connection: close`: once the node ends a stream (an error event), the connection goes with it.
      res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', connection: 'close' });
      res.socket?.setNoDelay(true);
    });
  }

  /** Adds a watcher writing to `out` (exported for tests with their own stream); `start` writes the headers. */
  open(out: Writable, w: WatchRequest, start: (headers: Record<string, string>) => void = () => {}): void {
    if (this.closed || this.watchers.size >= this.maxWatchers) {
      this.refusedCount += 1;
      throw new WatchUnavailableError(this.closed ? 'this node is shutting down' : `${this.maxWatchers} watch streams are open on this node already`);
    }
    const now = this.opts.revision();
    const from = w.fromRevision ?? now + 1;
    this.history.positionOf(from); // throws WatchCompactedError
    start({});
    const watcher: Watcher = { out, prefix: w.prefix, allowed: w.allowed, next: from, waiting: false };
    this.watchers.add(watcher);
    const drop = (): void => this.detach(watcher);
    out.on('close', drop);
    out.on('error', drop);
    // `retry:` tells EventSource clients how soon to reconnect.
    out.write(`retry: 1000\n${frame('start', { prefix: w.prefix, fromRevision: from, revision: now, oldestRevision: this.history.oldestRevision })}`);
    if (this.progressTimer === null) this.progressTimer = setInterval(() => this.progress(), this.progressMs);
    this.schedule();
  }

  /** Ends every stream with an `error` event (`stopping`); later streams are refused. */
  close(): void {
    this.closed = true;
    for (const w of [...this.watchers]) this.cut(w, 'stopping', 'this node is shutting down; reconnect to another node with fromRevision set to the last revision received + 1');
  }

  private detach(w: Watcher): void {
    if (!this.watchers.delete(w)) return;
    if (this.watchers.size === 0 && this.progressTimer !== null) {
      clearInterval(this.progressTimer);
      this.progressTimer = null;
    }
  }

  /** One delivery pass on the next turn, or once the delivery share allows (called on the apply path: nothing else happens there). */
  private schedule(): void {
    if (this.scheduled || this.watchers.size === 0) return;
    this.scheduled = true;
    const wait = this.nextPassAt - performance.now();
    if (wait <= 0) setImmediate(this.pass);
    else setTimeout(this.pass, wait);
  }

  private readonly pass = (): void => {
    this.scheduled = false;
    const t0 = performance.now();
    const batches = new Map<string, Shared>();
    for (const w of [...this.watchers]) this.deliver(w, batches);
    this.passCount += 1;
    const spaceOut = (): void => {
      const end = performance.now();
      this.nextPassAt = end + Math.min(this.maxPassDelayMs, (end - t0) * (1 / this.deliveryShare - 1));
    };
    spaceOut();
    // An HTTP response writes to its socket on the next tick (it corks it meanwhile): that is part of the pass's cost.
    process.nextTick(spaceOut);
  };

  /**
   * The frames of the changes under `prefix` from history position `i` on,
   * stopping between revisions once `room` characters are taken (a
   * revision's changes go out together). `full`: it stopped there.
   */
  private frames(prefix: string, i: number, room: number): Frames {
    let text = '';
    let sent = 0;
    let next = -1;
    // The last change under the prefix not yet framed: its frame depends on whether more of its revision follow.
    let held: WatchChange | null = null;
    for (let c = this.history.at(i); c !== undefined; c = this.history.at(++i)) {
      if (c.revision + 1 !== next && text.length >= room) return { text: held === null ? text : text + changeFrame(held, true), sent, next, full: true };
      if (c.key.startsWith(prefix)) {
        if (held !== null) text += changeFrame(held, held.revision !== c.revision);
        held = c;
        sent += 1;
      }
      next = c.revision + 1;
    }
    // Every revision held is complete (one entry is applied, all its changes recorded, within one turn),
    // and a stop falls between revisions: the change held is the last of its revision for this watcher.
    return { text: held === null ? text : text + changeFrame(held, true), sent, next, full: false };
  }

  /** Sends `w` every change it needs that the history holds, up to its buffer bound. */
  private deliver(w: Watcher, batches?: Map<string, Shared>): void {
    const denied = w.allowed?.() ?? null;
    if (denied !== null) return this.cut(w, denied.error, denied.message);
    let i: number;
    try {
      i = this.history.positionOf(w.next);
    } catch (e) {
      if (!(e instanceof WatchCompactedError)) throw e;
      if (w.waiting) return this.cut(w, 'slow-watcher', `this watcher did not read its stream fast enough: revision ${w.next}, the next it needed, is no longer in the history (oldest held ${e.oldestRevision}); read the current state and watch again from its revision + 1`, { nextRevision: w.next, oldestRevision: e.oldestRevision });
      return this.cut(w, 'compacted', `this node installed a snapshot at revision ${e.oldestRevision - 1}: the changes from revision ${w.next} to it are not known here; read the current state and watch again from its revision + 1`, { nextRevision: w.next, oldestRevision: e.oldestRevision });
    }
    if (w.waiting) return;
    // Watchers of one prefix at one cursor get the same bytes, encoded once per pass, when they all fit.
    let shared: Shared | undefined;
    if (batches !== undefined) {
      const key = `${w.next}\0${w.prefix}`;
      shared = batches.get(key);
      if (shared === undefined) {
        const f = this.frames(w.prefix, i, this.maxBuffered);
        batches.set(key, (shared = { ...f, bytes: f.full || f.text.length === 0 ? null : Buffer.from(f.text) }));
      }
    }
    const f = shared !== undefined && !shared.full && w.out.writableLength + (shared.bytes?.length ?? 0) < this.maxBuffered ? shared : this.frames(w.prefix, i, this.maxBuffered - w.out.writableLength);
    if (f.next !== -1) w.next = f.next;
    if (f.full) {
      w.waiting = true;
      w.out.once('drain', () => {
        w.waiting = false;
        this.schedule();
      });
    }
    if (f.text.length > 0) {
      this.sentCount += f.sent;
      w.out.write(f === shared && shared.bytes !== null ? shared.bytes : f.text);
    }
  }

  /** The `progress` event: everything under the prefix up to `revision` has been sent. */
  private progress(): void {
    const revision = this.opts.revision();
    for (const w of [...this.watchers]) {
      this.deliver(w);
      // A watcher that asked to start past the applied revision has nothing to be told yet.
      if (!this.watchers.has(w) || w.waiting || w.next > revision + 1) continue;
      // Every change this node applied is in the history, and this watcher was sent all it holds.
      w.next = revision + 1;
      w.out.write(frame('progress', { revision }, revision));
    }
  }

  /** Ends a stream with an `error` event saying why. */
  private cut(w: Watcher, reason: WatchCutReason, message: string, extra: Record<string, unknown> = {}): void {
    this.cutCounts[reason] += 1;
    this.detach(w);
    if (reason !== 'stopping') this.opts.logger.info({ reason, prefix: w.prefix, nextRevision: w.next }, 'watch: stream cut');
    w.out.end(frame('error', { error: reason, message, ...extra }));
    // A client that does not read its last bytes must not hold the socket.
    setTimeout(() => w.out.destroy(), this.closeGraceMs).unref();
  }
}
