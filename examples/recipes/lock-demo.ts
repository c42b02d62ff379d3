/**
 * The lock recipe in a few lines (docs/RECIPES.md). Against a running cluster:
 *
 *   npm start                                # a local 3-node cluster, in another terminal
 *   node dist/examples/recipes/lock-demo.js  # or --endpoints URL,URL,... (or TSRAFT_ENDPOINTS)
 *
 * Part 1: workers increment a shared counter under the lock, each write
 * fenced by the holder's token. Part 2: a holder pauses past its lease; the
 * next one takes over; the paused holder's fenced write is refused when it
 * wakes up.
 */
import { KvClient } from 'tsraft/client';
import { DistributedLock, LeaseSession, guardedPut } from 'tsraft/recipes';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

// The cluster `npm start` runs, unless told otherwise.
const LOCAL = 'http://127.0.0.1:7101,http://127.0.0.1:7102,http://127.0.0.1:7103';
const endpoints = flag('endpoints', process.env['TSRAFT_ENDPOINTS'] || LOCAL).split(',');
const workers = Number(flag('workers', '3'));
const rounds = Number(flag('rounds', '3'));
const client = new KvClient({ endpoints });

async function main(): Promise<void> {
  // Part 1: mutual exclusion. Read the counter, add one, write it back: safe only under the lock.
  await client.put('lock-demo/counter', '0');
  async function worker(id: number): Promise<void> {
    const lock = new DistributedLock(client, 'lock-demo/lock', { ttl: 5 });
    for (let r = 0; r < rounds; r++) {
      const held = await lock.acquire({ value: `worker ${id}`, timeoutMs: 30_000 });
      const n = Number((await client.get('lock-demo/counter'))!.value);
      // Fenced: applies only while this holder still holds the lock.
      const write = await guardedPut(client, held, 'lock-demo/counter', String(n + 1));
      console.log(`worker ${id} holds lock-demo/lock (token ${held.token}): counter ${n} -> ${write.succeeded ? n + 1 : `${n} (refused: lock lost)`}`);
      await held.release();
    }
  }
  await Promise.all(Array.from({ length: workers }, (_, i) => worker(i + 1)));
  console.log(`counter = ${(await client.get('lock-demo/counter'))!.value} (${workers} workers x ${rounds} rounds)`);

  // Part 2: fencing. A holds the lock on a 1 s lease, then pauses (stops renewing, as a stalled process would).
  const sessionA = await LeaseSession.open(client, { ttl: 1 });
  const a = await new DistributedLock(client, 'lock-demo/lock').acquire({ session: sessionA, value: 'A' });
  console.log(`A holds the lock (token ${a.token}) and pauses`);
  sessionA.abandon();
  const pausedAt = Date.now();
  const b = await new DistributedLock(client, 'lock-demo/lock', { ttl: 5 }).acquire({ value: 'B' });
  console.log(`B holds the lock (token ${b.token}) ${Date.now() - pausedAt} ms later, once A's lease expired`);
  await guardedPut(client, b, 'lock-demo/resource', 'written by B');
  // A wakes up, still believing it holds the lock, and writes with its old token.
  const stale = await guardedPut(client, a, 'lock-demo/resource', 'written by A');
  console.log(`A's fenced write with token ${a.token}: ${stale.succeeded ? 'APPLIED (fencing failed!)' : 'refused'}`);
  console.log(`resource = ${(await client.get('lock-demo/resource'))!.value}`);
  await b.release();
}

main().catch((e: unknown) => {
  console.error(`lock-demo: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
