import type { Random } from '../util/random.js';
import type { LinkFaults } from './message-network.js';

/** The fault profiles `npm run sim -- --profile NAME` knows. */
export const PROFILES = {
  swarm: 'each seed turns on a random subset of fault kinds at random intensities (the default)',
  calm: 'no faults at all',
  network: 'loss, duplication, delay, reordering and partitions only',
  crash: 'crashes and restarts only (unsynced writes lost, torn tails)',
  all: 'every fault kind at once',
} as const;
export type ProfileName = keyof typeof PROFILES;

export function isProfileName(s: string): s is ProfileName {
  return Object.hasOwn(PROFILES, s);
}

/** Which faults a run injects, and how hard. Drawn from the seed. */
export interface FaultPlan {
  readonly link: LinkFaults;
  /** Partitions of every shape, each lasting `partitionMs` (from the range). */
  readonly partitions: boolean;
  readonly partitionMs: readonly [number, number];
  /** Crashes of one node (or, sometimes, all) and restarts. */
  readonly crashes: boolean;
  readonly crashAll: boolean;
  readonly restartMs: readonly [number, number];
  /** Probability that a crash keeps a random prefix of unsynced bytes. */
  readonly tornWrite: number;
  /** Pauses of 0.5–5 election timeouts. */
  readonly pauses: boolean;
  /** Per-node clock drift, in parts per million (0: none). */
  readonly driftPpm: number;
  /** Clock step jumps. */
  readonly jumps: boolean;
  /** Each fsync takes up to this long (ms). */
  readonly slowFsyncMs: number;
  /** Flip one byte in one node's log, then restart it. */
  readonly byteFlip: boolean;
  /** Raft state size that triggers a snapshot (small: compaction and InstallSnapshot all the time). */
  readonly maxRaftState: number;
  /** Mean time between fault events (ms). */
  readonly faultEveryMs: number;
}

/** The fault plan of a run: the profile decides which kinds, the seed decides which and how hard. */
export function drawPlan(profile: ProfileName, r: Random, nodes: number): FaultPlan {
  const on = (p = 0.5): boolean => (profile === 'all' ? true : profile === 'swarm' ? r.float() < p : false);
  const net = profile === 'network' || on();
  const crashy = profile === 'crash' || on();
  const link: LinkFaults = net
    ? { loss: r.float() * 0.3, dup: r.float() * 0.05, baseMs: 0.2 + r.float() * 3, jitterMs: r.float() * 20 }
    : { loss: 0, dup: 0, baseMs: 0.5, jitterMs: 1 };
  // Partitions change every 1–15 virtual seconds (runs are 4–20 s of faults).
  const lo = 1000 + r.int(4000);
  return {
    link,
    partitions: net && (profile !== 'swarm' || r.float() < 0.7),
    partitionMs: [lo, lo + r.int(10_000)],
    crashes: crashy,
    crashAll: crashy && r.float() < 0.3,
    restartMs: [100, 300 + r.int(3000)],
    tornWrite: r.float(),
    pauses: on(0.4),
    driftPpm: on(0.4) ? r.int(1001) : 0,
    jumps: on(0.3),
    slowFsyncMs: on(0.3) ? 1 + r.int(20) : 0,
    byteFlip: nodes >= 3 && (crashy || profile === 'all') && r.float() < 0.25,
    maxRaftState: profile === 'calm' ? 1 << 20 : r.float() < 0.7 ? 512 + r.int(8192) : 1 << 20,
    faultEveryMs: 200 + r.int(1500),
  };
}
