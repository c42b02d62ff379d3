import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { Scheduler, SimulationDeadlock } from '../../src/sim/scheduler.js';
import { SeededRandom } from '../../src/util/random.js';
import { runLabTest } from '../../src/lab/runner.js';
import { raftTests } from '../../src/lab/suite/raft.js';

test('timers fire in order of time, then of creation', async () => {
  const s = new Scheduler();
  const order: string[] = [];
  await s.run(async () => {
    s.setTimer(20, () => order.push('b@20'));
    s.setTimer(10, () => order.push('a@10'));
    s.setTimer(20, () => order.push('c@20'));
    s.setTimer(0, () => order.push('z@0'));
    await s.sleep(30);
  });
  assert.deepEqual(order, ['z@0', 'a@10', 'b@20', 'c@20']);
  assert.equal(s.now(), 30);
});

test('cancelled timers never fire', async () => {
  const s = new Scheduler();
  let fired = false;
  await s.run(async () => {
    const t = s.setTimer(5, () => {
      fired = true;
    });
    t.cancel();
    await s.sleep(10);
  });
  assert.equal(fired, false);
});

test('continuations of one timer finish before the next timer fires', async () => {
  const s = new Scheduler();
  const order: string[] = [];
  await s.run(async () => {
    s.setTimer(10, () => {
      void (async () => {
        await Promise.resolve();
        await Promise.resolve();
        order.push('chain of timer 1 done');
      })();
    });
    s.setTimer(10, () => order.push('timer 2'));
    await s.sleep(20);
  });
  assert.deepEqual(order, ['chain of timer 1 done', 'timer 2']);
});

test('virtual time does not wait for the wall clock', async () => {
  const s = new Scheduler();
  const wall0 = performance.now();
  await s.run(() => s.sleep(3_600_000));
  assert.equal(s.now(), 3_600_000);
  assert.ok(performance.now() - wall0 < 1000);
});

test('a main task waiting on nothing is reported as a deadlock', async () => {
  const s = new Scheduler();
  await assert.rejects(
    s.run(() => new Promise<void>(() => {})),
    SimulationDeadlock,
  );
});

test('the virtual time limit stops runaway runs', async () => {
  const s = new Scheduler();
  await assert.rejects(
    s.run(
      async () => {
        for (;;) await s.sleep(1000);
      },
      { maxVirtualMs: 10_000 },
    ),
    /virtual time limit/,
  );
});

test('an exception in a timer callback ends the run with it', async () => {
  const s = new Scheduler();
  await assert.rejects(
    s.run(async () => {
      s.setTimer(5, () => {
        throw new Error('boom');
      });
      await s.sleep(10);
    }),
    /boom/,
  );
});

/** A world of tasks that sleep random times and spawn each other; returns its trace. */
async function randomWorld(seed: number): Promise<string> {
  const s = new Scheduler();
  const rnd = new SeededRandom(seed);
  const trace: string[] = [];
  await s.run(async () => {
    const task = async (id: number, depth: number): Promise<void> => {
      for (let i = 0; i < 5; i++) {
        await s.sleep(rnd.int(50));
        trace.push(`${s.now()}:${id}:${i}`);
        if (depth < 3 && rnd.int(4) === 0) void task(id * 10 + i, depth + 1);
      }
    };
    await Promise.all([task(1, 0), task(2, 0), task(3, 0)]);
    await s.sleep(10_000);
  });
  return trace.join('\n');
}

test('the same seed gives the same trace, twice; another seed another', async () => {
  const a = await randomWorld(7);
  const b = await randomWorld(7);
  const c = await randomWorld(8);
  assert.equal(a, b);
  assert.notEqual(a, c);
});

async function labTraceDigest(title: string, seed: number): Promise<string> {
  const h = createHash('sha256');
  const lt = raftTests.find((t) => t.title === title)!;
  const r = await runLabTest(lt, {
    seed,
    log: (l) => h.update(`log ${l.replace(/Passed.*/, 'Passed')}\n`),
    trace: (e) => h.update(`${e.time} ${e.kind} ${e.end} ${e.method} ${e.bytes}\n`),
  });
  assert.ok(r.ok, String(r.error));
  return h.digest('hex');
}

test('a lab test replays byte for byte from its seed (network trace digest)', async () => {
  const title = 'Test (2C): Figure 8 (unreliable)';
  const d1 = await labTraceDigest(title, 11);
  const d2 = await labTraceDigest(title, 11);
  const d3 = await labTraceDigest(title, 12);
  assert.equal(d1, d2);
  assert.notEqual(d1, d3);
});
