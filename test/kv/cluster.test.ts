/**
 * The replicated KV store end to end on the simulated network: exactly-once
 * writes across leader changes and snapshot installs, and linearizable reads
 * that an isolated old leader never answers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvConfig } from '../../src/lab/kvconfig.js';
import type { GetReply, PutAppendArgs, PutAppendReply } from '../../src/lab/kvraft.js';
import type { ClientEnd } from '../../src/lab/labrpc.js';
import { Scheduler } from '../../src/sim/scheduler.js';
import { SeededRandom } from '../../src/util/random.js';

function endsTo(cfg: KvConfig, name: string): ClientEnd[] {
  return cfg.all().map((j) => {
    const e = cfg.net.makeEnd(`${name}-${j}`);
    cfg.net.connect(`${name}-${j}`, String(j));
    cfg.net.enable(`${name}-${j}`, true);
    return e;
  });
}

async function leaderIndex(cfg: KvConfig): Promise<number> {
  for (;;) {
    const l = cfg.leader();
    if (l !== null) return l;
    await cfg.sleep(50);
  }
}

async function getFrom(end: ClientEnd, key: string): Promise<GetReply | null> {
  return end.call<GetReply>('KVServer.Get', { key });
}

test('one (clientId, seq) delivered many times, to every server, across leader changes and snapshot installs, applies once', async () => {
  const s = new Scheduler();
  await s.run(async () => {
    const cfg = new KvConfig({ servers: 3, unreliable: false, maxraftstate: 400, clock: s, random: new SeededRandom(3), log: () => {} });
    try {
      const ck = cfg.makeClient(cfg.all());
      await ck.put('k', '');
      const ends = endsTo(cfg, 'dup');
      const args: PutAppendArgs = { key: 'k', value: 'X', op: 'Append', clientId: 'dup-client', seq: 1 };
      const blast = async (): Promise<number> => {
        let ok = 0;
        for (let round = 0; round < 3; round++) {
          const replies = await Promise.all(ends.map((e) => e.call<PutAppendReply>('KVServer.PutAppend', args)));
          ok += replies.filter((r) => r?.err === 'OK').length;
        }
        return ok;
      };
      assert.ok((await blast()) >= 3, 'the leader acknowledged it');

      // A leader change: the old leader is cut off, the others elect a new one.
      const l1 = await leaderIndex(cfg);
      const others = cfg.all().filter((i) => i !== l1);
      cfg.partition(others, [l1]);
      await cfg.sleep(2000);
      assert.ok((await blast()) >= 3, 'the new leader acknowledged the retry');
      cfg.connectAll();
      await cfg.sleep(1000);

      // A snapshot install: one follower misses many writes, then catches up from a snapshot.
      const l2 = await leaderIndex(cfg);
      const lagger = cfg.all().find((i) => i !== l2)!;
      cfg.partition(cfg.all().filter((i) => i !== lagger), [lagger]);
      const ck2 = cfg.makeClient(cfg.all().filter((i) => i !== lagger));
      for (let i = 0; i < 40; i++) await ck2.put(`filler${i}`, 'f'.repeat(20));
      assert.ok(cfg.snapshotSize() > 0, 'the majority took snapshots');
      cfg.connectAll();
      await cfg.sleep(2000);
      await blast();

      // A second write of the same client, then a late retry of the first: refused, not applied.
      await ends[await leaderIndex(cfg)]!.call('KVServer.PutAppend', { ...args, value: 'Y', seq: 2 });
      await blast();
      for (const e of ends) {
        const r = await getFrom(e, 'k');
        assert.deepEqual(r, { err: 'OK', value: 'XY' }, 'every replica has each write exactly once');
      }
    } finally {
      cfg.cleanup();
    }
  });
});

test('an isolated old leader never answers a linearizable read; the new leader does, with the newest value', async () => {
  const s = new Scheduler();
  await s.run(async () => {
    const cfg = new KvConfig({ servers: 5, unreliable: false, maxraftstate: -1, clock: s, random: new SeededRandom(9), log: () => {} });
    try {
      const ck = cfg.makeClient(cfg.all());
      await ck.put('x', 'old');
      const old = await leaderIndex(cfg);
      const ends = endsTo(cfg, 'reader');
      // Cut the leader off from the other servers (but not from this client).
      const majority = cfg.all().filter((i) => i !== old);
      cfg.partition(majority, [old]);
      const stale = getFrom(ends[old]!, 'x');
      const ckm = cfg.makeClient(majority);
      await ckm.put('x', 'new');
      assert.equal(cfg.leader() !== null, true);
      const r = await stale;
      assert.notEqual(r?.err, 'OK', `the isolated leader answered ${JSON.stringify(r)}`);
      assert.equal(old !== (await leaderIndex(cfg)) || cfg.leader() === old, true);
      // A read through any majority server sees the new value.
      const r2 = await getFrom(ends[majority[0]!]!, 'x');
      assert.deepEqual(r2, { err: 'OK', value: 'new' });
    } finally {
      cfg.cleanup();
    }
  });
});
