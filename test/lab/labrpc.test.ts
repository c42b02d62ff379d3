import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RpcServer, SimNetwork } from '../../src/lab/labrpc.js';
import { Scheduler } from '../../src/sim/scheduler.js';
import { RealClock } from '../../src/util/clock.js';
import { SeededRandom } from '../../src/util/random.js';
import { encode } from '../../src/util/codec.js';

interface World {
  s: Scheduler;
  net: SimNetwork;
  handled: number;
}

/** One server "srv" with Echo.Add and Echo.Slow, and an enabled end "e" to it. */
function world(seed = 1): World {
  const s = new Scheduler();
  const net = new SimNetwork({ clock: s, random: new SeededRandom(seed) });
  const w: World = { s, net, handled: 0 };
  const srv = new RpcServer();
  srv.addService('Echo', {
    Add: (a: { x: number; y: number }) => {
      w.handled++;
      return { sum: a.x + a.y };
    },
    Slow: async (a: { ms: number }) => {
      w.handled++;
      await s.sleep(a.ms);
      return { ok: true };
    },
    Mutate: (a: { list: number[] }) => {
      a.list.push(99);
      return { list: a.list };
    },
  });
  net.addServer('srv', srv);
  net.makeEnd('e');
  net.connect('e', 'srv');
  net.enable('e', true);
  return w;
}

test('a reliable call reaches the handler and returns its reply; counts and bytes add up', async () => {
  const { s, net } = world();
  const end = net.makeEnd('e2');
  net.connect('e2', 'srv');
  net.enable('e2', true);
  await s.run(async () => {
    const reply = await end.call<{ sum: number }>('Echo.Add', { x: 2, y: 3 });
    assert.deepEqual(reply, { sum: 5 });
  });
  assert.equal(net.getCount('srv'), 1);
  assert.equal(net.getTotalCount(), 1);
  assert.equal(net.getTotalBytes(), encode({ x: 2, y: 3 }).length + encode({ sum: 5 }).length);
});

test('arguments and replies travel encoded: no object is shared', async () => {
  const { s, net } = world();
  await s.run(async () => {
    const args = { list: [1, 2] };
    const end = net.makeEnd('m');
    net.connect('m', 'srv');
    net.enable('m', true);
    const reply = await end.call<{ list: number[] }>('Echo.Mutate', args);
    assert.deepEqual(args.list, [1, 2]);
    assert.deepEqual(reply!.list, [1, 2, 99]);
  });
});

test('a disabled end fails after 0-99 ms without running the handler (7 s with long delays)', async () => {
  for (const long of [false, true]) {
    const w = world(3);
    w.net.enable('e', false);
    w.net.setLongDelays(long);
    const end = w.net.makeEnd('x');
    w.net.connect('x', 'srv');
    let maxT = 0;
    await w.s.run(async () => {
      for (let i = 0; i < 200; i++) {
        const t0 = w.s.now();
        assert.equal(await end.call('Echo.Add', { x: 1, y: 1 }), null);
        maxT = Math.max(maxT, w.s.now() - t0);
      }
    });
    assert.equal(w.handled, 0);
    assert.equal(w.net.getTotalCount(), 200, 'failed calls are counted too');
    if (long) assert.ok(maxT > 3000 && maxT < 7000, `long delay max ${maxT}`);
    else assert.ok(maxT > 50 && maxT < 100, `short delay max ${maxT}`);
  }
});

test('an end to a missing server fails like a disabled one', async () => {
  const { s, net } = world();
  const end = net.makeEnd('nowhere');
  net.connect('nowhere', 'ghost');
  net.enable('nowhere', true);
  await s.run(async () => assert.equal(await end.call('Echo.Add', { x: 1, y: 1 }), null));
});

test('unreliable: about 10% of requests and 10% of replies are lost, delays stay under 27 ms', async () => {
  const w = world(5);
  w.net.setReliable(false);
  const end = w.net.makeEnd('u');
  w.net.connect('u', 'srv');
  w.net.enable('u', true);
  const N = 5000;
  let ok = 0;
  let maxDelay = 0;
  await w.s.run(async () => {
    await Promise.all(
      Array.from({ length: N }, async () => {
        const t0 = w.s.now();
        if ((await end.call('Echo.Add', { x: 1, y: 2 })) !== null) {
          ok++;
          maxDelay = Math.max(maxDelay, w.s.now() - t0);
        }
      }),
    );
  });
  // handler runs for ~90%; ~81% of calls succeed.
  assert.ok(Math.abs(w.handled / N - 0.9) < 0.02, `handled ${w.handled}`);
  assert.ok(Math.abs(ok / N - 0.81) < 0.025, `ok ${ok}`);
  assert.ok(maxDelay <= 26, `max delay ${maxDelay}`);
  assert.equal(w.net.getCount('srv'), w.handled);
});

test('long reordering holds about 2/3 of replies for 200-2199 ms', async () => {
  const w = world(9);
  w.net.setLongReordering(true);
  const end = w.net.makeEnd('r');
  w.net.connect('r', 'srv');
  w.net.enable('r', true);
  const delays: number[] = [];
  await w.s.run(async () => {
    await Promise.all(
      Array.from({ length: 3000 }, async () => {
        const t0 = w.s.now();
        await end.call('Echo.Add', { x: 1, y: 2 });
        delays.push(w.s.now() - t0);
      }),
    );
  });
  const held = delays.filter((d) => d >= 200);
  assert.ok(Math.abs(held.length / delays.length - 2 / 3) < 0.03, `held ${held.length}`);
  assert.ok(Math.min(...held) >= 200 && Math.max(...held) <= 2199);
  assert.ok(delays.filter((d) => d < 200).every((d) => d === 0));
});

test('a reply is suppressed when the server is deleted while its handler runs', async () => {
  const w = world();
  await w.s.run(async () => {
    const call = w.net.makeEnd('d');
    w.net.connect('d', 'srv');
    w.net.enable('d', true);
    const t0 = w.s.now();
    const p = call.call('Echo.Slow', { ms: 1000 });
    await w.s.sleep(30);
    w.net.deleteServer('srv');
    assert.equal(await p, null);
    // noticed at the next 100 ms poll, not when the handler finishes
    assert.equal(w.s.now() - t0, 100);
  });
  assert.equal(w.handled, 1);
});

test('a reply is suppressed when the handler finishes after its server was replaced', async () => {
  const w = world();
  await w.s.run(async () => {
    const p = w.net.makeEnd('q');
    w.net.connect('q', 'srv');
    w.net.enable('q', true);
    const pending = p.call('Echo.Slow', { ms: 50 });
    await w.s.sleep(10);
    w.net.addServer('srv', new RpcServer());
    assert.equal(await pending, null);
  });
});

test('after cleanup every call fails at once', async () => {
  const { s, net } = world();
  net.cleanup();
  const end = net.makeEnd('c');
  await s.run(async () => {
    const t0 = s.now();
    assert.equal(await end.call('Echo.Add', { x: 1, y: 1 }), null);
    assert.equal(s.now(), t0);
  });
});

test('unknown methods are programming errors', async () => {
  const { s, net } = world();
  const end = net.makeEnd('bad');
  net.connect('bad', 'srv');
  net.enable('bad', true);
  await s.run(async () => {
    await assert.rejects(end.call('Echo.Nope', {}), /unknown method Echo.Nope/);
  });
});

test('the same network runs on the real clock', async () => {
  const clock = new RealClock();
  const net = new SimNetwork({ clock, random: new SeededRandom(1) });
  const srv = new RpcServer();
  srv.addService('Echo', { Add: (a: { x: number; y: number }) => ({ sum: a.x + a.y }) });
  net.addServer('srv', srv);
  const end = net.makeEnd('e');
  net.connect('e', 'srv');
  net.enable('e', true);
  net.setReliable(false);
  let ok = 0;
  for (let i = 0; i < 20; i++) if ((await end.call('Echo.Add', { x: i, y: 1 })) !== null) ok++;
  assert.ok(ok > 5);
  clock.dispose();
});
