/**
 * `npm run bench:kv`:
 *  - KV operations per second in the simulator: 3 servers (RaftNode +
 *    MemoryStorage + KvStateMachine), a zero-delay network, 32 concurrent
 *    clients with sessions, for puts and for linearizable gets (ReadIndex);
 *    measured in wall-clock time (virtual time costs nothing);
 *  - the linearizability checker's time on a 10,000-operation history.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { checkHistory, type HistoryOp } from '../src/check/index.js';
import { KvService } from '../src/kv/service.js';
import { KvStateMachine } from '../src/kv/state-machine.js';
import { startNode } from '../src/node/builder.js';
import type { RaftNode } from '../src/node/raft-node.js';
import { Scheduler } from '../src/sim/scheduler.js';
import { MemoryStorage } from '../src/storage/memory.js';
import { SeededRandom, type Random } from '../src/util/random.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 3);
const CLIENTS = 32;

async function kvThroughput(kind: 'put' | 'get'): Promise<{ kind: string; opsPerSec: number; ops: number }> {
  const s = new Scheduler();
  const rnd = new SeededRandom(11);
  const ids = [0, 1, 2];
  const nodes: RaftNode[] = [];
  const services: KvService[] = [];
  for (const id of ids) {
    const sm = new KvStateMachine();
    const { node, replica } = await startNode({
      id,
      voters: ids,
      // The core's defaults (the simulation profile's) with the lab's timing.
      profile: 'simulation',
      options: { tickMs: 10, electionTicks: 30, heartbeatTicks: 10, maxInflight: 256 },
      storage: new MemoryStorage(),
      clock: s,
      random: rnd.fork(),
      transport: { send: (m) => s.setTimer(0, () => nodes[m.to]!.step(m)) },
      stateMachine: sm,
    });
    nodes.push(node);
    services.push(new KvService(replica, sm, () => s.now()));
  }
  let ops = 0;
  let t0 = 0;
  await s.run(async () => {
    while (!nodes.some((n) => n.isLeader())) await s.sleep(10);
    const leader = services[nodes.findIndex((n) => n.isLeader())]!;
    await leader.put('warm', 'up');
    t0 = performance.now();
    const deadline = t0 + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        let seq = 0;
        while (performance.now() < deadline) {
          const key = `key${(c * 7919 + seq) % 1000}`;
          if (kind === 'put') await leader.put(key, 'v'.repeat(64), { clientId: `client${c}`, seq: ++seq });
          else {
            seq++;
            await leader.get(key);
          }
          ops++;
        }
      }),
    );
    for (const n of nodes) n.stop();
  });
  const secs = (performance.now() - t0) / 1000;
  return { kind, opsPerSec: ops / secs, ops };
}

/** A 10,000-operation history over `keys` keys, linearizable by construction, with overlapping operations. */
export function history(r: Random, n: number, keys: number, clients: number): HistoryOp[] {
  const state = new Map<string, string | null>();
  const busy = new Array<number>(clients).fill(0);
  const out: HistoryOp[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    t += 1 + r.int(3);
    const key = `k${r.int(keys)}`;
    const client = r.int(clients);
    const call = Math.max(busy[client]! + 1, t - r.int(30));
    const lin = Math.max(t, call);
    const ret = lin + r.int(30);
    busy[client] = ret;
    const cur = state.get(key) ?? null;
    const k = r.int(3);
    if (k === 0) out.push({ clientId: client, op: 'get', key, output: cur, call, return: ret, status: 'ok' });
    else if (k === 1) {
      state.set(key, `v${i}`);
      out.push({ clientId: client, op: 'put', key, value: `v${i}`, call, return: ret, status: 'ok' });
    } else {
      state.set(key, (cur ?? '') + `.${i}`);
      out.push({ clientId: client, op: 'append', key, value: `.${i}`, call, return: ret, status: 'ok' });
    }
    t = lin;
  }
  return out;
}

export function checkerTime(keys: number, clients: number): { ops: number; keys: number; clients: number; ms: number; verdict: string } {
  const h = history(new SeededRandom(5), 10_000, keys, clients);
  const t0 = performance.now();
  const r = checkHistory(h, { timeoutMs: 60_000 });
  return { ops: h.length, keys, clients, ms: performance.now() - t0, verdict: r.verdict };
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  console.log(`bench:kv: 3 servers in the simulator, zero-delay network, ${CLIENTS} clients, ${SECONDS} s per figure`);
  const put = await kvThroughput('put');
  console.log(`puts (sessions, exactly once):     ${fmt(put.opsPerSec).padStart(8)} ops/s`);
  const get = await kvThroughput('get');
  console.log(`linearizable gets (ReadIndex):      ${fmt(get.opsPerSec).padStart(8)} ops/s`);
  const checks = [checkerTime(10, 16), checkerTime(1, 4), checkerTime(1, 8)];
  for (const c of checks) console.log(`checker, ${fmt(c.ops)} operations on ${c.keys} key(s), ${c.clients} concurrent clients: ${c.ms.toFixed(0)} ms (${c.verdict})`);
  mkdirSync('bench/results', { recursive: true });
  const file = 'bench/results/kv.json';
  writeFileSync(file, JSON.stringify({ bench: 'kv', date: new Date().toISOString(), node: process.version, seconds: SECONDS, clients: CLIENTS, put, get, checks }, null, 2) + '\n');
  console.log(`results written to ${file}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
