/**
 * The kvraft tests of the 2023 6.824 lab (parts 3A and 3B), scenario by
 * scenario as ../shared/lab-tests.md §4.5 describes them, with the history of
 * every generic test checked for linearizability (an undecided check fails).
 */
import { LabFailure } from '../config.js';
import { KV_ELECTION_TIMEOUT as ET, OpLog, type KvConfig } from '../kvconfig.js';
import type { Clerk } from '../kvraft.js';
import type { LabEnv, LabTest } from '../runner.js';

function fail(msg: string): never {
  throw new LabFailure(msg);
}

/** Every "x clnt j y" for j < count occurs exactly once in v, in order. */
function checkClntAppends(clnt: number, v: string, count: number): void {
  let lastoff = -1;
  for (let j = 0; j < count; j++) {
    const wanted = `x ${clnt} ${j} y`;
    const off = v.indexOf(wanted);
    if (off < 0) fail(`${clnt} missing element ${wanted} in Append result ${v.slice(0, 200)}`);
    const off1 = v.lastIndexOf(wanted);
    if (off1 !== off) fail(`duplicate element ${wanted} in Append result`);
    if (off <= lastoff) fail(`wrong order for element ${wanted} in Append result`);
    lastoff = off;
  }
}

function checkConcurrentAppends(v: string, counts: readonly number[]): void {
  counts.forEach((count, i) => {
    let lastoff = -1;
    for (let j = 0; j < count; j++) {
      const wanted = `x ${i} ${j} y`;
      const off = v.indexOf(wanted);
      if (off < 0) fail(`${i} missing element ${wanted} in Append result ${v}`);
      if (v.lastIndexOf(wanted) !== off) fail(`duplicate element ${wanted} in Append result`);
      if (off <= lastoff) fail(`wrong order for element ${wanted} in Append result`);
      lastoff = off;
    }
  });
}

async function check(cfg: KvConfig, ck: Clerk, key: string, value: string): Promise<void> {
  const v = await ck.get(key);
  cfg.op();
  if (v !== value) fail(`Get(${key}): expected:\n${value}\nreceived:\n${v}`);
}

/** Runs `fn` on ncli clients, each with its own clerk connected to every server; resolves with their results. */
async function spawnClientsAndWait<T>(cfg: KvConfig, ncli: number, fn: (me: number, ck: Clerk) => Promise<T>): Promise<T[]> {
  return Promise.all(
    Array.from({ length: ncli }, async (_, cli) => {
      const ck = cfg.makeClient(cfg.all());
      const r = await fn(cli, ck);
      cfg.deleteClient(ck);
      return r;
    }),
  );
}

/** Repartitions the servers at random every second or so until told to stop. */
async function partitioner(cfg: KvConfig, done: () => boolean): Promise<void> {
  while (!done()) {
    const a = Array.from({ length: cfg.n }, () => cfg.random.int(2));
    const pa: number[][] = [[], []];
    for (let j = 0; j < cfg.n; j++) pa[a[j]!]!.push(j);
    cfg.partition(pa[0]!, pa[1]!);
    await cfg.sleep(ET + cfg.random.int(200));
  }
}

function genericTitle(part: string, nclients: number, unreliable: boolean, crash: boolean, partitions: boolean, maxraftstate: number, randomkeys: boolean): string {
  let title = 'Test: ';
  if (unreliable) title += 'unreliable net, ';
  if (crash) title += 'restarts, ';
  if (partitions) title += 'partitions, ';
  if (maxraftstate !== -1) title += 'snapshots, ';
  if (randomkeys) title += 'random keys, ';
  title += nclients > 1 ? 'many clients' : 'one client';
  return `${title} (${part})`;
}

/**
 * The lab's GenericTest: clients append, put and get for 5 s while servers
 * are partitioned and/or crashed, three rounds; then per-client append checks,
 * log and snapshot size limits, and the linearizability of the whole history.
 */
async function genericTest(env: LabEnv, part: string, nclients: number, nservers: number, unreliable: boolean, crash: boolean, partitions: boolean, maxraftstate: number, randomkeys: boolean): Promise<void> {
  const title = genericTitle(part, nclients, unreliable, crash, partitions, maxraftstate, randomkeys);
  const cfg = env.makeKvConfig(nservers, unreliable, maxraftstate);
  const log = new OpLog(cfg.clock);
  const ck = cfg.makeClient(cfg.all());
  cfg.begin(title);
  for (let round = 0; round < 3; round++) {
    let doneClients = false;
    let donePartitioner = false;
    const clients = spawnClientsAndWait(cfg, nclients, async (cli, myck) => {
      let j = 0;
      let last = '';
      if (!randomkeys) await log.put(cfg, myck, String(cli), last, cli);
      while (!doneClients) {
        const key = randomkeys ? String(cfg.random.int(nclients)) : String(cli);
        const nv = `x ${cli} ${j} y`;
        if (cfg.random.int(1000) < 500) {
          await log.append(cfg, myck, key, nv, cli);
          if (!randomkeys) last += nv;
          j++;
        } else if (randomkeys && cfg.random.int(1000) < 100) {
          await log.put(cfg, myck, key, nv, cli);
          j++;
        } else {
          const v = await log.get(cfg, myck, key, cli);
          if (!randomkeys && v !== last) fail(`get wrong value, key ${key}, wanted:\n${last}\n, got\n${v}\n`);
        }
      }
      return j;
    });
    let part: Promise<void> = Promise.resolve();
    if (partitions) {
      await cfg.sleep(1000);
      part = partitioner(cfg, () => donePartitioner);
    }
    await cfg.sleep(5000);
    doneClients = true;
    donePartitioner = true;
    if (partitions) {
      await part;
      cfg.connectAll();
      await cfg.sleep(ET);
    }
    if (crash) {
      for (let i = 0; i < nservers; i++) cfg.shutdownServer(i);
      await cfg.sleep(ET);
      for (let i = 0; i < nservers; i++) cfg.startServer(i);
      cfg.connectAll();
    }
    const counts = await clients;
    for (let i = 0; i < nclients; i++) {
      const v = await log.get(cfg, ck, String(i), 0);
      if (!randomkeys) checkClntAppends(i, v, counts[i]!);
    }
    if (maxraftstate > 0) {
      const sz = cfg.logSize();
      if (sz > 8 * maxraftstate) fail(`logs were not trimmed (${sz} > 8*${maxraftstate})`);
    }
    if (maxraftstate < 0) {
      const ssz = cfg.snapshotSize();
      if (ssz > 0) fail(`snapshot too large (${ssz}), should not be used when maxraftstate = ${maxraftstate}`);
    }
  }
  cfg.checkLinearizable(log.ops, title);
  cfg.end();
}

async function genericTestSpeed(env: LabEnv, part: string, maxraftstate: number): Promise<void> {
  const nservers = 3;
  const numOps = 1000;
  const cfg = env.makeKvConfig(nservers, false, maxraftstate);
  const ck = cfg.makeClient(cfg.all());
  cfg.begin(`Test: ops complete fast enough (${part})`);
  // wait until first op completes, so we know a leader is elected and KV servers are ready
  await ck.get('x');
  const start = cfg.clock.now();
  for (let i = 0; i < numOps; i++) await ck.append('x', `x 0 ${i} y`);
  const dur = cfg.clock.now() - start;
  const v = await ck.get('x');
  checkClntAppends(0, v, numOps);
  // heartbeat interval should be ~ 100 ms; require at least 3 ops per
  const timePerOp = 100 / 3;
  if (dur > numOps * timePerOp) fail(`Operations completed too slowly ${(dur / numOps).toFixed(1)}ms/op > ${timePerOp.toFixed(1)}ms/op`);
  cfg.end();
}

async function unreliableOneKey(env: LabEnv): Promise<void> {
  const nservers = 3;
  const cfg = env.makeKvConfig(nservers, true, -1);
  const ck = cfg.makeClient(cfg.all());
  cfg.begin('Test: concurrent append to same key, unreliable (3A)');
  await ck.put('k', '');
  cfg.op();
  const nclient = 5;
  const upto = 10;
  await spawnClientsAndWait(cfg, nclient, async (me, myck) => {
    for (let n = 0; n < upto; n++) {
      await myck.append('k', `x ${me} ${n} y`);
      cfg.op();
    }
  });
  const vx = await ck.get('k');
  cfg.op();
  checkConcurrentAppends(
    vx,
    Array.from({ length: nclient }, () => upto),
  );
  cfg.end();
}

/** Resolves true if `p` settles within `ms`. */
async function within(cfg: KvConfig, p: Promise<unknown>, ms: number): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  const t0 = cfg.clock.now();
  while (!done && cfg.clock.now() - t0 < ms) await cfg.sleep(10);
  return done;
}

async function onePartition(env: LabEnv): Promise<void> {
  const nservers = 5;
  const cfg = env.makeKvConfig(nservers, false, -1);
  const ck = cfg.makeClient(cfg.all());
  await ck.put('1', '13');
  cfg.op();

  cfg.begin('Test: progress in majority (3A)');
  const [p1, p2] = cfg.makePartition();
  cfg.partition(p1, p2);
  const ckp1 = cfg.makeClient(p1); // connect ckp1 to p1
  const ckp2a = cfg.makeClient(p2); // connect ckp2a to p2
  const ckp2b = cfg.makeClient(p2); // connect ckp2b to p2
  await ckp1.put('1', '14');
  cfg.op();
  await check(cfg, ckp1, '1', '14');
  cfg.end();

  cfg.begin('Test: no progress in minority (3A)');
  let done0 = false;
  let done1 = false;
  const put15 = ckp2a.put('1', '15').then(() => {
    cfg.op();
    done0 = true;
  });
  void ckp2b.get('1').then(() => {
    cfg.op();
    done1 = true; // different clerk in p2
  });
  await cfg.sleep(1000);
  if (done0) fail('Put in minority completed');
  if (done1) fail('Get in minority completed');
  await check(cfg, ckp1, '1', '14');
  await ckp1.put('1', '16');
  cfg.op();
  await check(cfg, ckp1, '1', '16');
  cfg.end();

  cfg.begin('Test: completion after heal (3A)');
  cfg.connectAll();
  cfg.connectClient(ckp2a, cfg.all());
  cfg.connectClient(ckp2b, cfg.all());
  await cfg.sleep(ET);
  if (!(await within(cfg, put15, 30 * 100))) fail('Put did not complete');
  // (the lab's check of the minority Get here is a non-blocking select: not enforced)
  await check(cfg, ck, '1', '15');
  cfg.end();
}

async function snapshotRPC(env: LabEnv): Promise<void> {
  const nservers = 3;
  const maxraftstate = 1000;
  const cfg = env.makeKvConfig(nservers, false, maxraftstate);
  const ck = cfg.makeClient(cfg.all());
  cfg.begin('Test: InstallSnapshot RPC (3B)');
  await ck.put('a', 'A');
  cfg.op();
  await check(cfg, ck, 'a', 'A');
  // a bunch of puts into the majority partition.
  cfg.partition([0, 1], [2]);
  {
    const ck1 = cfg.makeClient([0, 1]);
    for (let i = 0; i < 50; i++) {
      await ck1.put(String(i), String(i));
      cfg.op();
    }
    await cfg.sleep(ET);
    await ck1.put('b', 'B');
    cfg.op();
  }
  // check that the majority partition has thrown away most of its log entries.
  const sz = cfg.logSize();
  if (sz > 8 * maxraftstate) fail(`logs were not trimmed (${sz} > 8*${maxraftstate})`);
  // now make group that requires participation of lagging server, so that it has to catch up.
  cfg.partition([0, 2], [1]);
  {
    const ck1 = cfg.makeClient([0, 2]);
    await ck1.put('c', 'C');
    cfg.op();
    await ck1.put('d', 'D');
    cfg.op();
    await check(cfg, ck1, 'a', 'A');
    await check(cfg, ck1, 'b', 'B');
    await check(cfg, ck1, '1', '1');
    await check(cfg, ck1, '49', '49');
  }
  // now everybody
  cfg.partition([0, 1, 2], []);
  await ck.put('e', 'E');
  cfg.op();
  await check(cfg, ck, 'c', 'C');
  await check(cfg, ck, 'e', 'E');
  await check(cfg, ck, '1', '1');
  cfg.end();
}

async function snapshotSize(env: LabEnv): Promise<void> {
  const nservers = 3;
  const maxraftstate = 1000;
  const maxsnapshotstate = 500;
  const cfg = env.makeKvConfig(nservers, false, maxraftstate);
  const ck = cfg.makeClient(cfg.all());
  cfg.begin('Test: snapshot size is reasonable (3B)');
  for (let i = 0; i < 200; i++) {
    await ck.put('x', '0');
    cfg.op();
    await check(cfg, ck, 'x', '0');
    await ck.put('x', '1');
    cfg.op();
    await check(cfg, ck, 'x', '1');
  }
  // check that servers have thrown away most of their log entries
  const sz = cfg.logSize();
  if (sz > 8 * maxraftstate) fail(`logs were not trimmed (${sz} > 8*${maxraftstate})`);
  // check that the snapshots are not unreasonably large
  const ssz = cfg.snapshotSize();
  if (ssz > maxsnapshotstate) fail(`snapshot too large (${ssz} > ${maxsnapshotstate})`);
  cfg.end();
}

type G = [part: string, nclients: number, nservers: number, unreliable: boolean, crash: boolean, partitions: boolean, maxraftstate: number, randomkeys: boolean];

function generic(...g: G): LabTest {
  return { title: genericTitle(g[0], g[1], g[3], g[4], g[5], g[6], g[7]), fn: (env) => genericTest(env, ...g) };
}

/** The kvraft suite in the lab's file order. */
const KV_TESTS: readonly LabTest[] = [
  generic('3A', 1, 5, false, false, false, -1, false),
  { title: 'Test: ops complete fast enough (3A)', fn: (env) => genericTestSpeed(env, '3A', -1) },
  generic('3A', 5, 5, false, false, false, -1, false),
  generic('3A', 5, 5, true, false, false, -1, false),
  { title: 'Test: concurrent append to same key, unreliable (3A)', fn: unreliableOneKey },
  { title: 'Test: progress in majority (3A), no progress in minority (3A), completion after heal (3A)', fn: onePartition },
  generic('3A', 1, 5, false, false, true, -1, false),
  generic('3A', 5, 5, false, false, true, -1, false),
  generic('3A', 1, 5, false, true, false, -1, false),
  generic('3A', 5, 5, false, true, false, -1, false),
  generic('3A', 5, 5, true, true, false, -1, false),
  generic('3A', 5, 5, false, true, true, -1, false),
  generic('3A', 5, 5, true, true, true, -1, false),
  generic('3A', 15, 7, true, true, true, -1, true),
  { title: 'Test: InstallSnapshot RPC (3B)', fn: snapshotRPC },
  { title: 'Test: snapshot size is reasonable (3B)', fn: snapshotSize },
  { title: 'Test: ops complete fast enough (3B)', fn: (env) => genericTestSpeed(env, '3B', 1000) },
  generic('3B', 1, 5, false, true, false, 1000, false),
  generic('3B', 20, 5, false, true, false, 1000, false),
  generic('3B', 5, 5, true, false, false, 1000, false),
  generic('3B', 5, 5, true, true, false, 1000, false),
  generic('3B', 5, 5, true, true, true, 1000, false),
  generic('3B', 15, 7, true, true, true, 1000, true),
];

/** The 23 kvraft tests (3A-3B); an implementation under test needs `startKVServer`. */
export const kvTests: readonly LabTest[] = KV_TESTS.map((t) => ({ ...t, needs: 'startKVServer' as const }));
