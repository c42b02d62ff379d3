import type { Random } from '../util/random.js';
import type { LinkFaults } from './message-network.js';

/** The fault profiles `npm run sim -- --profile NAME` knows. */
export const PROFILES = {
  swarm: 'each seed turns on a random subset of fault kinds at random intensities (the default)',
  calm: 'no faults at all',
  network: 'loss, duplication, delay, reordering and partitions only',
  crash: 'crashes and restarts only (unsynced writes lost, torn tails)',
  all: 'every fault kind at once',
  membership: "swarm's faults, and always the membership nemesis (add, promote, remove, replace, transfer leadership)",
  lease:
    "swarm's faults (and nemesis), with lease reads: check quorum on, clients read with consistency=lease from any node, every run has clock drift and the nodes' drift bound is the drawn drift, partitions come four times as often and isolate the leader half the time; clock jumps move the wall clock only (the tick driver is monotonic, as Node's timers are)",
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
  // The membership and lease profiles draw their faults exactly as swarm does.
  const swarmLike = profile === 'swarm' || profile === 'membership' || profile === 'lease';
  const on = (p = 0.5): boolean => (profile === 'all' ? true : swarmLike ? r.float() < p : false);
  const net = profile === 'network' || on();
  const crashy = profile === 'crash' || on();
  const link: LinkFaults = net
    ? { loss: r.float() * 0.3, dup: r.float() * 0.05, baseMs: 0.2 + r.float() * 3, jitterMs: r.float() * 20 }
    : { loss: 0, dup: 0, baseMs: 0.5, jitterMs: 1 };
  // Partitions change every 1–15 virtual seconds (runs are 4–20 s of faults).
  const lo = 1000 + r.int(4000);
  return {
    link,
    // A lease is tested when its leader is cut off: the lease profile always has partitions, four times as often.
    partitions: (net && (!swarmLike || r.float() < 0.7)) || profile === 'lease',
    partitionMs: profile === 'lease' ? [lo / 4, (lo + r.int(10_000)) / 4] : [lo, lo + r.int(10_000)],
    crashes: crashy,
    crashAll: crashy && r.float() < 0.3,
    restartMs: [100, 300 + r.int(3000)],
    tornWrite: r.float(),
    pauses: on(0.4),
    // Lease reads are only safe within a drift bound: their profile always has drift, to test the bound.
    driftPpm: on(0.4) || profile === 'lease' ? r.int(1001) : 0,
    jumps: on(0.3),
    slowFsyncMs: on(0.3) ? 1 + r.int(20) : 0,
    byteFlip: nodes >= 3 && (crashy || profile === 'all') && r.float() < 0.25,
    maxRaftState: profile === 'calm' ? 1 << 20 : r.float() < 0.7 ? 512 + r.int(8192) : 1 << 20,
    faultEveryMs: 200 + r.int(1500),
  };
}

/** How the membership nemesis behaves in a run (drawn from its own stream, so the fault plan stays the seed's). */
export interface MembershipPlan {
  /** Is the nemesis on at all? */
  readonly on: boolean;
  /** Mean time between its attempts (ms). */
  readonly everyMs: number;
  /** Probability that a removed node keeps running (it must not disrupt) rather than being stopped. */
  readonly keepRemoved: number;
  /** Probability that a successful change is followed at once by a crash of the leader or the node changed. */
  readonly crashMidChange: number;
  /** The most nodes the cluster may have at once. */
  readonly maxNodes: number;
}

/** Swarm turns the nemesis on in some runs; the membership profile in all. */
export function drawMembership(profile: ProfileName, r: Random): MembershipPlan {
  const on = profile === 'membership' || ((profile === 'swarm' || profile === 'lease') && r.float() < 0.3);
  return {
    on,
    everyMs: 150 + r.int(900),
    keepRemoved: r.float(),
    crashMidChange: r.float() < 0.5 ? 0 : 0.05 + r.float() * 0.25,
    maxNodes: 7,
  };
}
