import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { SimNetwork, type ClientEnd, type NetEvent } from './labrpc.js';
import type { Scheduler } from '../sim/scheduler.js';
import { RealClock, type Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { FilePersister } from './file-persister.js';
import { Persister } from './persister.js';

/** A test failure raised by a harness check. */
export class LabFailure extends Error {
  override name = 'LabFailure';
}

/** What every tester config shares: the run's clock, randomness, output and storage choice. */
export interface HarnessRuntime {
  readonly clock: Clock;
  readonly random: Random;
  readonly scheduler?: Scheduler | undefined;
  /** Where Passed lines and warnings go. Default: console.log. */
  readonly log?: ((line: string) => void) | undefined;
  /** Sees every network event (for traces and determinism checks). */
  readonly trace?: ((e: NetEvent) => void) | undefined;
  /** Sees what the tester does to servers (crash, restart, connect, disconnect), for traces. */
  readonly traceTester?: ((time: number, server: number, what: string) => void) | undefined;
  /** Persist in memory, as the lab does (default), or in FileStorage under a temporary directory. */
  readonly storage?: 'memory' | 'file' | undefined;
}

/** Statistics of the current test since `begin`. */
export interface TestStats {
  readonly seconds: number;
  readonly peers: number;
  readonly rpcs: number;
  readonly bytes: number;
  /** Commands committed (Raft tests) or client operations (kvraft tests). */
  readonly commands: number;
}

const NAME_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/**
 * The plumbing the Raft tester and the kvraft tester share: n servers'
 * persisters (in memory, or data directories on real files), the simulated
 * network, random end names, and fatal errors that end a test at once.
 */
export abstract class LabHarness {
  readonly n: number;
  readonly net: SimNetwork;
  readonly clock: Clock;
  /** The tester's own random choices (commands, victims, sleeps). */
  readonly random: Random;
  protected readonly scheduler: Scheduler | undefined;
  protected readonly saved: (Persister | FilePersister | null)[];
  private readonly logLine: (line: string) => void;
  /** With file storage: the temporary directory holding every server's data directory. */
  private readonly dataRoot: string | null;
  private fatal: Error | null = null;
  private readonly traceTester: ((time: number, server: number, what: string) => void) | undefined;
  private readonly fatalListeners: ((err: Error) => void)[] = [];

  protected constructor(servers: number, rt: HarnessRuntime, latency?: { min: number; max: number }) {
    this.n = servers;
    this.clock = rt.clock;
    this.random = rt.random.fork();
    this.scheduler = rt.scheduler;
    this.logLine = rt.log ?? ((l) => console.log(l));
    this.net = new SimNetwork({ clock: this.clock, random: rt.random.fork(), ...(latency !== undefined && { latency }), ...(rt.trace !== undefined && { trace: rt.trace }) });
    this.dataRoot = rt.storage === 'file' ? mkdtempSync(path.join(tmpdir(), 'tsraft-lab-')) : null;
    this.saved = new Array<Persister | FilePersister | null>(servers).fill(null);
    this.traceTester = rt.traceTester;
  }

  /** Set by the subclass once its servers are up: what the tester does from then on is traced. */
  protected traceReady = false;

  /** Tells the trace what the tester did to server i. */
  protected noteTester(server: number, what: string): void {
    if (this.traceReady) this.traceTester?.(this.clock.now(), server, what);
  }

  /** Records a fatal error: the test fails at once (see {@link fatalPromise}). */
  fail(message: string | Error): void {
    if (this.fatal !== null) return;
    this.fatal = message instanceof Error ? message : new LabFailure(message);
    for (const l of this.fatalListeners.splice(0)) l(this.fatal);
  }

  /** Rejects as soon as the harness records a fatal error. */
  fatalPromise(): Promise<never> {
    return new Promise((_, reject) => {
      if (this.fatal !== null) reject(this.fatal);
      else this.fatalListeners.push(reject);
    });
  }

  protected throwIfFatal(): void {
    if (this.fatal !== null) throw this.fatal;
  }

  sleep(ms: number): Promise<void> {
    return this.clock.sleep(ms);
  }

  /** Prints a line (titles, Passed lines, warnings). */
  log(line: string): void {
    this.logLine(line);
  }

  /** A fresh random 20-character end name. */
  protected randomName(): string {
    let s = '';
    for (let k = 0; k < 20; k++) s += NAME_ALPHABET[this.random.int(NAME_ALPHABET.length)];
    return s;
  }

  /** Fresh ends from `owner` (server i's name, for traces) to every server j, disabled until connected. */
  protected makeEnds(names: string[], owner: string): ClientEnd[] {
    const ends: ClientEnd[] = [];
    for (let j = 0; j < this.n; j++) {
      const name = this.randomName();
      names[j] = name;
      ends.push(this.net.makeEnd(name, owner));
      this.net.connect(name, String(j));
    }
    return ends;
  }

  /**
   * The persister server i (re)starts with: a copy of what it saved (in
   * memory), or its data directory (on files), which it recovers itself.
   */
  protected persisterFor(i: number): Persister | FilePersister {
    const saved = this.saved[i];
    let p: Persister | FilePersister;
    if (this.dataRoot !== null) {
      const sched = this.scheduler;
      p = saved ?? new FilePersister(path.join(this.dataRoot, `server-${i}`), sched !== undefined ? { track: (x) => sched.external(x) } : {});
    } else {
      p = saved instanceof Persister ? saved.copy() : new Persister();
    }
    this.saved[i] = p;
    return p;
  }

  /** On a crash: the old instance keeps writing into its old persister, which nobody reads again. */
  protected detach(i: number): void {
    const saved = this.saved[i];
    if (saved instanceof Persister) this.saved[i] = saved.copy();
  }

  /** The largest persisted Raft state (snapshot excluded) over all servers. */
  logSize(): number {
    let max = 0;
    for (const p of this.saved) max = Math.max(max, p?.raftStateSize() ?? 0);
    return max;
  }

  /** The largest snapshot over all servers. */
  snapshotSize(): number {
    let max = 0;
    for (const p of this.saved) max = Math.max(max, p?.snapshotSize() ?? 0);
    return max;
  }

  rpcTotal(): number {
    return this.net.getTotalCount();
  }

  /** Closes the network (and the real clock). Servers are stopped by the subclass. */
  protected closeNetwork(): void {
    this.net.cleanup();
    if (this.clock instanceof RealClock) this.clock.dispose();
  }

  /** After cleanup: waits for file storage to close and removes its directory. */
  async dispose(): Promise<void> {
    if (this.dataRoot === null) return;
    for (const p of this.saved) if (p instanceof FilePersister) await p.closed();
    rmSync(this.dataRoot, { recursive: true, force: true });
  }
}
