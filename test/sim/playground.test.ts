/**
 * The playground's engine (src/sim/playground.ts): real nodes driven by timed
 * user actions. Its state must be a function of seed, size and actions (a
 * link must replay a session exactly), and the actions must do what they say
 * to the real cluster: a crashed leader is replaced, a write is read back,
 * a cut link carries nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Playground, PlaygroundError, decodeSession, encodeSession, type PlaygroundSize } from '../../src/sim/playground.js';

async function started(seed: number, nodes: PlaygroundSize, lines?: string[]): Promise<Playground> {
  const pg = new Playground({ seed, nodes, ...(lines !== undefined && { trace: (l: string) => lines.push(l) }) });
  await pg.start();
  return pg;
}

/** Advances in uneven frame-sized steps, as the page does, until `until` holds or `limitMs` passes. */
async function runUntilTrue(pg: Playground, until: () => boolean, limitMs: number): Promise<boolean> {
  const end = pg.now + limitMs;
  let step = 7.3;
  while (!until() && pg.now < end) {
    await pg.advance(step);
    step = step > 40 ? 3.1 : step * 1.7;
  }
  return until();
}

/** A session with every kind of action, driven frame by frame with odd step sizes. */
async function session(seed: number, nodes: PlaygroundSize, lines: string[]): Promise<Playground> {
  const pg = await started(seed, nodes, lines);
  assert.ok(await runUntilTrue(pg, () => pg.leader() !== null, 5000), 'a leader within 5 s');
  await pg.apply({ kind: 'put', key: 'k', value: 'v1', target: 'leader' });
  await pg.advance(123.456);
  const leader = pg.leader()!;
  await pg.apply({ kind: 'crash', node: leader });
  await pg.advance(777.7);
  await pg.apply({ kind: 'cut', from: (leader + 1) % nodes, to: (leader + 2) % nodes, both: false });
  await pg.apply({ kind: 'pause', node: (leader + 2) % nodes });
  await runUntilTrue(pg, () => false, 650);
  await pg.apply({ kind: 'resume', node: (leader + 2) % nodes });
  await pg.apply({ kind: 'restart', node: leader });
  await pg.apply({ kind: 'isolate', node: (leader + 1) % nodes });
  await pg.apply({ kind: 'get', key: 'k', target: (leader + 2) % nodes });
  await runUntilTrue(pg, () => false, 1000);
  await pg.apply({ kind: 'heal-all' });
  await pg.apply({ kind: 'put', key: 'a.b~c&d', value: 'x y=z', target: 'leader' });
  await runUntilTrue(pg, () => false, 1500);
  return pg;
}

test('a session replays exactly from its link: the same trace line for line, the same state', async () => {
  for (const [seed, nodes] of [
    [1, 3],
    [42, 5],
    [9, 7],
  ] as const) {
    const lines: string[] = [];
    const pg = await session(seed, nodes, lines);
    assert.equal(pg.failure, null);
    const link = encodeSession(pg.session());
    const decoded = decodeSession(link);
    assert.deepEqual(decoded, pg.session(), 'the link decodes to the session');
    const again: string[] = [];
    const rp = await Playground.replay(decoded, { trace: (l) => again.push(l) });
    assert.equal(rp.now, pg.now);
    assert.deepEqual(again, lines, `seed ${seed}: the replay's trace is the session's`);
    assert.equal(rp.fingerprint(), pg.fingerprint());
    assert.deepEqual(rp.nodes(), pg.nodes());
    assert.deepEqual(rp.clientOps(), pg.clientOps());
    assert.ok(lines.some((l) => l.includes('you: crash node')) && lines.length > 200, 'the trace has the actions and the run');
  }
});

test('the same seed and actions give the same run; another seed gives another', async () => {
  const a: string[] = [];
  const b: string[] = [];
  const c: string[] = [];
  await session(5, 5, a);
  await session(5, 5, b);
  await session(6, 5, c);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('crashing the leader leads to a new leader in a higher term, and the restarted node rejoins as a follower', async () => {
  for (const nodes of [3, 5, 7] as const) {
    const pg = await started(11, nodes);
    assert.ok(await runUntilTrue(pg, () => pg.leader() !== null, 5000));
    const old = pg.leader()!;
    const oldTerm = pg.nodes()[old]!.term!;
    await pg.apply({ kind: 'crash', node: old });
    assert.equal(pg.nodes()[old]!.status, 'down');
    assert.ok(await runUntilTrue(pg, () => pg.leader() !== null && pg.leader() !== old, 5000), `${nodes} nodes: a new leader`);
    const leader = pg.leader()!;
    assert.ok(pg.nodes()[leader]!.term! > oldTerm);
    await pg.apply({ kind: 'restart', node: old });
    assert.ok(await runUntilTrue(pg, () => pg.nodes()[old]!.role === 'follower' && pg.nodes()[old]!.term === pg.nodes()[leader]!.term, 3000), 'the old leader is back as a follower');
    assert.equal(pg.leader(), leader, 'its return does not disrupt the leader (pre-vote, check quorum)');
    assert.equal(pg.failure, null);
  }
});

test('a put through the leader is acknowledged, then a get through a follower returns the value, and every replica applies it', async () => {
  const pg = await started(3, 5);
  assert.ok(await runUntilTrue(pg, () => pg.leader() !== null, 5000));
  await pg.apply({ kind: 'put', key: 'color', value: 'teal', target: 'leader' });
  const put = pg.clientOps()[0]!;
  assert.ok(await runUntilTrue(pg, () => put.status !== 'pending', 3000));
  assert.equal(put.status, 'ok', put.error);
  const revision = Number(put.result);
  assert.ok(revision > 0);
  const follower = (pg.leader()! + 1) % 5;
  await pg.apply({ kind: 'get', key: 'color', target: follower });
  const get = pg.clientOps()[1]!;
  assert.ok(await runUntilTrue(pg, () => get.status !== 'pending', 3000));
  assert.deepEqual([get.status, get.result, get.node], ['ok', 'teal', follower]);
  assert.ok(get.returnedAt! > get.calledAt, 'a read takes time: it waits for the leader to confirm it still leads');
  assert.ok(await runUntilTrue(pg, () => pg.nodes().every((n) => (n.applied ?? 0) >= revision), 2000), 'every replica applies the write');
  // A follower forwards a write to its leader.
  await pg.apply({ kind: 'put', key: 'color', value: 'red', target: follower });
  const forwarded = pg.clientOps()[2]!;
  assert.ok(await runUntilTrue(pg, () => forwarded.status !== 'pending', 3000));
  assert.equal(forwarded.status, 'ok', forwarded.error);
  assert.ok(Number(forwarded.result) > revision);
  // A crashed node answers nothing: the client sees the connection refused; one attempt, as the node answered.
  await pg.apply({ kind: 'crash', node: follower });
  await pg.apply({ kind: 'get', key: 'color', target: follower });
  const refused = pg.clientOps()[3]!;
  assert.ok(await runUntilTrue(pg, () => refused.status !== 'pending', 3000));
  assert.deepEqual([refused.status, refused.error], ['error', 'node down (connection refused)']);
  await pg.apply({ kind: 'get', key: 'color', target: 'leader' });
  const last = pg.clientOps()[4]!;
  assert.ok(await runUntilTrue(pg, () => last.status !== 'pending', 3000));
  assert.deepEqual([last.status, last.result], ['ok', 'red']);
  assert.equal(pg.checkLinearizable(), 'ok');
});

test('a cut link carries no message, a healed one does again; an isolated leader is replaced by the majority', async () => {
  const pg = await started(8, 3);
  assert.ok(await runUntilTrue(pg, () => pg.leader() !== null, 5000));
  const leader = pg.leader()!;
  const f = (leader + 1) % 3;
  await pg.apply({ kind: 'cut', from: leader, to: f, both: false });
  assert.ok(pg.isCut(leader, f) && !pg.isCut(f, leader));
  // Let what was on the wire land, then watch: nothing from the leader reaches f, while the other follower hears it.
  await pg.advance(100);
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    await pg.advance(10);
    for (const m of pg.messagesInFlight()) seen.add(`${m.from}>${m.to}`);
  }
  assert.ok(!seen.has(`${leader}>${f}`), 'no message on the cut link');
  assert.ok(seen.has(`${leader}>${(leader + 2) % 3}`), 'the other link carries heartbeats');
  assert.ok(pg.recentDrops(500).some((d) => d.from === leader && d.to === f && d.reason === 'cut'), 'the messages sent on it are dropped');
  await pg.apply({ kind: 'heal', from: leader, to: f, both: false });
  await pg.advance(200);
  assert.ok(pg.messagesInFlight().some((m) => m.from === leader && m.to === f) || pg.recentDrops(200).every((d) => d.from !== leader), 'the healed link carries messages');
  await pg.apply({ kind: 'isolate', node: leader });
  assert.ok(await runUntilTrue(pg, () => pg.leader() !== null && pg.leader() !== leader, 5000), 'the majority elects a new leader');
  assert.equal(pg.failure, null);
});

test('a paused node holds its messages and falls behind; resumed, it catches up', async () => {
  const pg = await started(4, 3);
  assert.ok(await runUntilTrue(pg, () => pg.leader() !== null, 5000));
  const f = (pg.leader()! + 1) % 3;
  await pg.apply({ kind: 'pause', node: f });
  await pg.apply({ kind: 'put', key: 'p', value: '1', target: 'leader' });
  const put = pg.clientOps()[0]!;
  assert.ok(await runUntilTrue(pg, () => put.status === 'ok', 3000), 'the other two commit it');
  assert.ok((pg.nodes()[f]!.lastIndex ?? 0) < Number(put.result), 'the paused node has not got it');
  assert.ok(pg.messagesInFlight().some((m) => m.to === f && m.held === 'in'), 'messages to it wait');
  await pg.apply({ kind: 'resume', node: f });
  assert.ok(await runUntilTrue(pg, () => (pg.nodes()[f]!.applied ?? 0) >= Number(put.result), 3000));
});

test('bad actions and bad links are refused with a clear error, and nothing is recorded', async () => {
  const pg = await started(1, 3);
  await pg.advance(1000);
  await assert.rejects(() => pg.apply({ kind: 'crash', node: 3 }), (e: unknown) => e instanceof PlaygroundError && /no node 3: the cluster has nodes 0\.\.2/.test(e.message));
  await assert.rejects(() => pg.apply({ kind: 'restart', node: 0 }), /only a crashed node restarts/);
  await assert.rejects(() => pg.apply({ kind: 'cut', from: 1, to: 1, both: true }), /a link joins two nodes/);
  assert.equal(pg.recorded.length, 0);
  assert.throws(() => decodeSession('s=1&n=4'), /the playground has 3, 5 or 7 nodes/);
  assert.throws(() => decodeSession('s=1&n=3&a=10~c~5'), /action 1 \('10~c~5'\): the node '5' is not a node of 0\.\.2/);
  assert.throws(() => decodeSession('s=1&n=3&a=10~z~1'), /unknown action code 'z'/);
  assert.throws(() => decodeSession('s=1&n=3&a=10~c~1.5~c~2'), /not before the previous action's/);
  assert.throws(() => new Playground({ seed: 1, nodes: 4 as PlaygroundSize }), /nodes must be 3, 5 or 7/);
});
