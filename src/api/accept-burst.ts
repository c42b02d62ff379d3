/**
 * Lets a burst of new client connections in ahead of the established ones.
 *
 * Why: libuv 1.45 and later (Node 20) accept one connection per event-loop
 * turn (libuv/libuv#3696, "don't accept() connections in a loop"). Under load
 * a turn reads and answers every established client, so N connections opened
 * at once wait up to N loaded turns. A client pool reconnecting after a leader
 * change does that, and so does wrk starting a row: 256 connections took
 * 250–430 ms to be accepted at 12,000 writes/s, and each one's first request
 * was the slowest of its row (a packet capture of the API port; the leader's
 * own time per request stayed under 100 ms).
 *
 * So while connections arrive turn after turn, the sockets that have already
 * sent a request are not read: turns stay short and the accept queue drains.
 * Their answers are still written. They are read again at the first turn that
 * accepts no connection, or after {@link AcceptBurstOptions.maxPauseMs} at
 * most. No new pause starts for as long again, so a steady stream of new
 * connections cannot starve established clients: they are read at least half
 * the time.
 */

/** What the burst control needs of a socket (a `net.Socket` or a `tls.TLSSocket`). */
export interface PausableSocket {
  pause(): unknown;
  resume(): unknown;
  isPaused(): boolean;
  readonly destroyed: boolean;
  once(event: 'close', listener: () => void): unknown;
}

/** Options of an {@link AcceptBurst}; the defaults are the server's. */
export interface AcceptBurstOptions {
  /** The longest a burst keeps established sockets unread (ms); no new pause starts for as long after it. Default 100. */
  readonly maxPauseMs?: number;
  /** Runs `f` at the end of the current event-loop turn. Default `setImmediate`, which runs after the turn's I/O callbacks. */
  readonly endOfTurn?: (f: () => void) => void;
  /** A monotonic clock (ms). Default `performance.now`. */
  readonly now?: () => number;
}

/** Counts of an {@link AcceptBurst}. */
export interface AcceptBurstStats {
  /** Bursts that paused established sockets, since start. */
  readonly bursts: number;
  /** Sockets not read now because of a burst. */
  readonly paused: number;
}

export const DEFAULT_ACCEPT_BURST_PAUSE_MS = 100;

/**
 * Tell it of every accepted connection ({@link accepted}) and of every
 * request ({@link served}); it pauses and resumes sockets as described in the
 * module's comment.
 */
export class AcceptBurst {
  private readonly maxPauseMs: number;
  private readonly endOfTurn: (f: () => void) => void;
  private readonly now: () => number;
  /** Open sockets that sent a request and are not paused by this burst control. */
  private readonly readable = new Set<PausableSocket>();
  /** Open sockets that sent a request and are paused by this burst control. */
  private readonly paused = new Set<PausableSocket>();
  private acceptsThisTurn = 0;
  /** Consecutive turns, up to this one, that accepted a connection. */
  private streak = 0;
  private checking = false;
  private pausedSince = -1;
  private noPauseUntil = -Infinity;
  private burstCount = 0;

  constructor(opts: AcceptBurstOptions = {}) {
    this.maxPauseMs = opts.maxPauseMs ?? DEFAULT_ACCEPT_BURST_PAUSE_MS;
    this.endOfTurn = opts.endOfTurn ?? ((f) => setImmediate(f));
    this.now = opts.now ?? (() => performance.now());
  }

  get stats(): AcceptBurstStats {
    return { bursts: this.burstCount, paused: this.paused.size };
  }

  /** A connection was accepted (whether or not it was then refused). */
  accepted(): void {
    this.acceptsThisTurn++;
    if (!this.checking) {
      this.checking = true;
      this.endOfTurn(this.check);
    }
  }

  /** A request arrived on `socket`. */
  served(socket: PausableSocket): void {
    // Known already (one 'close' listener each); a paused socket stays paused.
    if (this.readable.has(socket) || this.paused.has(socket)) return;
    this.readable.add(socket);
    socket.once('close', () => {
      this.readable.delete(socket);
      this.paused.delete(socket);
    });
  }

  private readonly check = (): void => {
    const accepted = this.acceptsThisTurn;
    this.acceptsThisTurn = 0;
    if (accepted === 0) {
      // A turn without a new connection: the queue is empty.
      this.checking = false;
      this.streak = 0;
      this.resume();
      return;
    }
    this.streak++;
    const now = this.now();
    if (this.pausedSince >= 0 && now - this.pausedSince >= this.maxPauseMs) {
      this.resume();
      this.noPauseUntil = now + this.maxPauseMs;
    } else if (this.streak >= 2 && now >= this.noPauseUntil) {
      // One new connection is no burst; two turns in a row are.
      if (this.pausedSince < 0) {
        this.pausedSince = now;
        this.burstCount++;
      }
      // Sockets accepted since the last check have sent nothing yet: they stay readable for their first request.
      for (const s of this.readable) {
        // One paused by someone else (HTTP's own back-pressure) is theirs to resume.
        if (s.isPaused()) continue;
        s.pause();
        this.paused.add(s);
        this.readable.delete(s);
      }
    }
    this.endOfTurn(this.check);
  };

  private resume(): void {
    if (this.pausedSince < 0) return;
    this.pausedSince = -1;
    for (const s of this.paused) {
      // Destroyed, its 'close' not emitted yet.
      if (s.destroyed) continue;
      s.resume();
      this.readable.add(s);
    }
    this.paused.clear();
  }
}
