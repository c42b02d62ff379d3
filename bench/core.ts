/**
 * `npm run bench:core`: committed proposals per second on a 3-node cluster in
 * one process, in-memory storage, zero-delay network, for proposal batches of
 * 1, 64 and 1024 commands. Two drivers are measured:
 *  - core: the pure Raft cores pumped synchronously (the algorithm's own cost);
 *  - node: RaftNode drivers with MemoryStorage and a microtask transport (the
 *    cost of the real driver loop: Ready, awaits, apply queue).
 * A client proposes a batch to the leader, waits until it is committed on the
 * leader and applied, and repeats (one batch outstanding).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { startNode } from '../src/node/builder.js';
import type { RaftNode } from '../src/node/raft-node.js';
import { MemoryStorage } from '../src/storage/memory.js';
import { RealClock } from '../src/util/clock.js';
import { SeededRandom } from '../src/util/random.js';
import { pureCores } from './pure-cores.js';

const PAYLOAD = new Uint8Array(128).fill(7);
const IDS = [0, 1, 2];

interface Figure {
  driver: 'core' | 'node';
  batch: number;
  proposals: number;
  seconds: number;
  proposalsPerSec: number;
  batchesPerSec: number;
}

/** Pure cores: deliver every message at once until nothing is left. */
function benchCore(batch: number, seconds: number): Figure {
  const { leader, applied, pump } = pureCores(1);
  let proposals = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  while (performance.now() < deadline) {
    let last = 0;
    for (let i = 0; i < batch; i++) last = leader.propose(PAYLOAD)!.index;
    while (applied[0]! < last) pump();
    proposals += batch;
  }
  const s = (performance.now() - t0) / 1000;
  return { driver: 'core', batch, proposals, seconds: s, proposalsPerSec: proposals / s, batchesPerSec: proposals / batch / s };
}

/** RaftNode drivers on the real event loop, messages delivered by microtask. */
async function benchNode(batch: number, seconds: number): Promise<Figure> {
  const rnd = new SeededRandom(2);
  const clock = new RealClock();
  const nodes: RaftNode[] = [];
  for (const id of IDS) {
    const { node } = await startNode({
      id,
      voters: IDS,
      // The core's defaults (the simulation profile's) with fast timing.
      profile: 'simulation',
      options: { tickMs: 10, electionTicks: 10, heartbeatTicks: 2, maxInflight: 256, applyBuffer: 4096 },
      storage: new MemoryStorage(),
      clock,
      random: rnd.fork(),
      transport: { send: (m) => queueMicrotask(() => nodes[m.to]!.step(m)) },
    });
    nodes.push(node);
  }
  // Drain every node's apply queue; the leader's drain tells the client when its batch is in.
  const applied = [0, 0, 0];
  let wake = null as (() => void) | null;
  for (const n of nodes) {
    void (async () => {
      for (;;) {
        const items = await n.nextApplyBatch();
        if (items === null) return;
        for (const item of items) if (item.kind === 'entry') applied[n.id] = item.entry.index;
        if (wake !== null) {
          const w = wake;
          wake = null;
          w();
        }
      }
    })();
  }
  let leader: RaftNode | undefined;
  while ((leader = nodes.find((n) => n.isLeader())) === undefined) await clock.sleep(5);
  let proposals = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  while (performance.now() < deadline) {
    let last = 0;
    for (let i = 0; i < batch; i++) {
      const r = leader.propose(PAYLOAD);
      if (r === null) throw new Error('leadership lost during the benchmark');
      last = r.index;
    }
    while (applied[leader.id]! < last) await new Promise<void>((r) => (wake = r));
    proposals += batch;
  }
  const s = (performance.now() - t0) / 1000;
  for (const n of nodes) n.stop();
  clock.dispose();
  return { driver: 'node', batch, proposals, seconds: s, proposalsPerSec: proposals / s, batchesPerSec: proposals / batch / s };
}

export async function runCoreBench(seconds = 3): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const batch of [1, 64, 1024]) {
    figures.push(benchCore(batch, seconds));
    figures.push(await benchNode(batch, seconds));
  }
  return figures;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

async function main(): Promise<void> {
  const seconds = Number(process.env['BENCH_SECONDS'] ?? 3);
  console.log(`bench:core: 3 nodes in one process, in-memory storage, zero-delay network, ${PAYLOAD.length}-byte commands, ${seconds} s per figure`);
  const figures = await runCoreBench(seconds);
  console.log('driver  batch   proposals/s    batches/s');
  for (const f of figures) console.log(`${f.driver.padEnd(6)} ${String(f.batch).padStart(6)} ${fmt(f.proposalsPerSec).padStart(13)} ${fmt(f.batchesPerSec).padStart(12)}`);
  mkdirSync('bench/results', { recursive: true });
  const file = 'bench/results/core.json';
  writeFileSync(file, JSON.stringify({ bench: 'core', date: new Date().toISOString(), node: process.version, seconds, figures }, null, 2) + '\n');
  console.log(`results written to ${file}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
