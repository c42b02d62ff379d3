import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { MessageType, type Message, type NodeId } from '../../src/core/types.js';
import { decode, encode } from '../../src/util/codec.js';
import { FrameDecoder, encodeFrame, frameHeader } from '../../src/transport/frame.js';
import type { PeerAddress, TcpTransportOptions } from '../../src/transport/tcp.js';
import { heartbeat, oneOfEach, pattern, sleep, startMember, waitFor, type TestMember } from './helpers.js';

const LOCAL = '127.0.0.1';

type Member = TestMember;

/** Starts one transport on a free local port, recording what it receives and logs. */
function member(nodeId: NodeId, opts: Partial<TcpTransportOptions> = {}): Promise<Member> {
  return startMember(nodeId, { listen: { host: LOCAL, port: 0 }, ...opts });
}

/** `n` transports (ids 1..n) that all know each other, once every connection is up. */
async function cluster(n: number, opts: Partial<TcpTransportOptions> = {}): Promise<Member[]> {
  const ms: Member[] = [];
  for (let id = 1; id <= n; id++) ms.push(await member(id, opts));
  // Ports are known only now. A node may dial a peer before that peer knows it and be
  // refused once; it retries within milliseconds.
  for (const a of ms) for (const b of ms) if (a !== b) a.t.setPeer(b.t.nodeId, b.t.address);
  await waitFor('all connections up', () => ms.every((m) => [...m.t.stats().values()].every((s) => s.connected)));
  return ms;
}

async function closeAll(ms: readonly Member[]): Promise<void> {
  await Promise.all(ms.map((m) => m.t.close()));
}

/** A port nothing listens on (it was free a moment ago). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, LOCAL, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A raw TCP client speaking (or not) the protocol by hand. */
interface RawClient {
  readonly sock: net.Socket;
  /** Decoded frames received from the transport. */
  readonly frames: unknown[];
  readonly closed: Promise<void>;
  readonly isClosed: () => boolean;
  send(value: unknown): void;
}

async function rawClient(addr: PeerAddress): Promise<RawClient> {
  const sock = net.connect(addr.port, addr.host);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  sock.on('error', () => {}); // a reset from the transport is expected in some tests
  const frames: unknown[] = [];
  const dec = new FrameDecoder();
  sock.on('data', (c: Buffer) => {
    dec.push(c);
    for (let p = dec.next(); p !== null; p = dec.next()) frames.push(decode(p));
  });
  let closed = false;
  const closedP = new Promise<void>((r) =>
    sock.once('close', () => {
      closed = true;
      r();
    }),
  );
  return { sock, frames, closed: closedP, isClosed: () => closed, send: (v) => sock.write(encodeFrame(encode(v))) };
}

const hello = (from: NodeId, to: NodeId, clusterId = 'test'): unknown => ({ kind: 'hello', version: 1, clusterId, from, to });

test('two transports exchange every message type, byte for byte and in order', async () => {
  let dials = 0;
  const [a, b] = await cluster(2, {
    // The connect seam (the one TLS would use) is what dials.
    connect: (addr) => {
      dials++;
      return net.connect(addr.port, addr.host);
    },
  });
  try {
    assert.ok(dials >= 2);
    // A 3 MiB snapshot chunk spans many TCP reads; small messages share them.
    const fromA = [...oneOfEach(1, 2, 1, 3 * 1024 * 1024), ...Array.from({ length: 500 }, (_, i) => heartbeat(1, 2, i)), ...oneOfEach(1, 2, 2)];
    const fromB = [...oneOfEach(2, 1, 7), ...Array.from({ length: 500 }, (_, i) => heartbeat(2, 1, i))];
    for (const m of fromA) a!.t.send(m);
    for (const m of fromB) b!.t.send(m);
    await waitFor('every message delivered', () => b!.got.length === fromA.length && a!.got.length === fromB.length);
    assert.deepEqual(b!.got, fromA);
    assert.deepEqual(a!.got, fromB);
    // And explicitly, the big payload byte for byte.
    const snap = b!.got.find((m) => m.type === MessageType.Snap);
    assert.ok(snap?.type === MessageType.Snap && Buffer.compare(snap.data, pattern(3 * 1024 * 1024, 3)) === 0);

    const sa = a!.t.stats().get(2)!;
    assert.equal(sa.sent, fromA.length);
    assert.equal(sa.received, fromB.length);
    assert.equal(sa.dropped, 0);
    assert.equal(sa.queued, 0);
    assert.ok(sa.bytesSent > 3 * 1024 * 1024);
    assert.equal(b!.t.stats().get(1)!.received, fromA.length);
  } finally {
    await closeAll([a!, b!]);
  }
});

test('three transports: every pair exchanges every message type, in order per sender', async () => {
  const ms = await cluster(3);
  try {
    const expected = new Map<string, Message[]>();
    for (const s of ms) {
      for (const r of ms) {
        if (s === r) continue;
        const msgs = [...oneOfEach(s.t.nodeId, r.t.nodeId, s.t.nodeId * 10 + r.t.nodeId), ...Array.from({ length: 200 }, (_, i) => heartbeat(s.t.nodeId, r.t.nodeId, i))];
        expected.set(`${s.t.nodeId}->${r.t.nodeId}`, msgs);
        for (const m of msgs) s.t.send(m);
      }
    }
    const total = (msgs: number): boolean => ms.every((r) => r.got.length === msgs);
    const perPair = expected.get('1->2')!.length;
    await waitFor('every message delivered', () => total(2 * perPair));
    for (const r of ms) {
      for (const s of ms) {
        if (s === r) continue;
        assert.deepEqual(
          r.got.filter((m) => m.from === s.t.nodeId),
          expected.get(`${s.t.nodeId}->${r.t.nodeId}`),
        );
      }
    }
  } finally {
    await closeAll(ms);
  }
});

test('a peer with the wrong cluster id, an unknown id, or a misaddressed hello is refused, logged, and never delivered', async () => {
  const [a, b] = await cluster(2);
  const intruders: Member[] = [];
  try {
    // Claims to be node 2, but of another cluster.
    intruders.push(await member(2, { clusterId: 'other-cluster', peers: new Map([[1, a!.t.address]]) }));
    // Right cluster, but node 9 is not in node 1's configuration.
    intruders.push(await member(9, { peers: new Map([[1, a!.t.address]]) }));
    // Right cluster and id, but it believes node 1's address belongs to node 3.
    intruders.push(await member(2, { peers: new Map([[3, a!.t.address]]) }));
    for (const x of intruders) for (const id of [1, 3]) x.t.send(heartbeat(x.t.nodeId, id, 77));

    await waitFor('three refusals logged', () => a!.log.find('error', /^refused connection from/).length >= 3);
    const refusals = a!.log.find('error', /^refused connection from/);
    const one = (re: RegExp): Record<string, unknown> => {
      const l = refusals.find((r) => re.test(String(r['reason'])));
      assert.ok(l !== undefined, `a refusal matching ${re}: ${JSON.stringify(refusals)}`);
      assert.match(String(l['remote']), /^127\.0\.0\.1:\d+$/);
      assert.match(String(l['msg']), /127\.0\.0\.1:\d+ claiming cluster "[^"]+" node \d+/);
      return l;
    };
    assert.deepEqual([one(/cluster id/)['clusterId'], one(/cluster id/)['from']], ['other-cluster', 2]);
    assert.deepEqual([one(/not a configured peer/)['clusterId'], one(/not a configured peer/)['from']], ['test', 9]);
    assert.equal(one(/addressed to node 3/)['to'], 3);

    // The dialers log the reason and keep trying.
    for (const x of intruders) {
      await waitFor('refusal logged by the dialer', () => x.log.find('error', /refused our connection/).length > 0);
      await waitFor('retries', () => [...x.t.stats().values()].some((s) => s.reconnects >= 2));
      assert.ok([...x.t.stats().values()].every((s) => !s.connected && s.sent === 0));
    }
    // The dialers are told nothing about the cluster they reached: the details are only in the acceptor's log (above).
    for (const x of intruders) for (const l of x.log.find('error', /refused our connection/)) assert.equal(l['reason'], 'refused');

    // A hand-written client sending a message right behind a bad hello: refused, and the message is ignored.
    const raw = await rawClient(a!.t.address);
    raw.sock.write(Buffer.concat([encodeFrame(encode(hello(2, 1, 'nope'))), encodeFrame(encode(heartbeat(2, 1, 5)))]));
    await raw.closed;
    assert.deepEqual(raw.frames, [{ kind: 'refused', reason: 'refused' }]);
    assert.ok(a!.log.find('error', /claiming cluster "nope" node 2: cluster id "nope" does not match this node's "test"/).length === 1, 'the acceptor logs the details');

    assert.ok(a!.t.counters().refusedConnections >= 4);
    assert.equal(a!.got.length, 0, 'nothing from a refused peer was delivered');
    // The legitimate peer is unaffected.
    b!.t.send(heartbeat(2, 1, 1));
    await waitFor('legit message', () => a!.got.length === 1);
    assert.deepEqual(a!.got, [heartbeat(2, 1, 1)]);
  } finally {
    await closeAll([a!, b!, ...intruders]);
  }
});

test('reconnect: messages queued while the peer is down are delivered when it comes back on the same port', async () => {
  const [a, b] = await cluster(2);
  let b2: Member | undefined;
  try {
    a!.t.send(heartbeat(1, 2, 0));
    await waitFor('first message', () => b!.got.length === 1);
    const port = b!.t.address.port;
    await b!.t.close();
    await waitFor('a notices', () => !a!.t.stats().get(2)!.connected);

    for (let i = 1; i <= 5; i++) a!.t.send(heartbeat(1, 2, i));
    assert.equal(a!.t.stats().get(2)!.queued, 5);
    await sleep(150); // a few failed attempts
    const before = a!.t.stats().get(2)!.reconnects;
    assert.ok(before >= 1, `reconnect attempts while down: ${before}`);
    assert.ok(a!.log.find('warn', /cannot connect to node 2|connection to node 2 lost/).length >= 1);

    b2 = await member(2, { listen: { host: LOCAL, port }, peers: new Map([[1, a!.t.address]]) });
    await waitFor('queued messages delivered', () => b2!.got.length === 5);
    assert.deepEqual(
      b2.got.map((m) => (m.type === MessageType.Heartbeat ? m.ctx : -1)),
      [1, 2, 3, 4, 5],
    );
    // And messages flow again both ways.
    a!.t.send(heartbeat(1, 2, 6));
    b2.t.send(heartbeat(2, 1, 9));
    await waitFor('new messages', () => b2!.got.length === 6 && a!.got.length === 1);
    assert.equal(a!.t.stats().get(2)!.connected, true);
  } finally {
    await closeAll([a!, b!, ...(b2 ? [b2] : [])]);
  }
});

test('a full queue drops its oldest messages and counts them; send never blocks or throws', async () => {
  const port = await deadPort();
  const a = await member(1, { peers: new Map([[2, { host: LOCAL, port }]]), maxQueueMessages: 3, maxFrameBytes: 4096 });
  let b: Member | undefined;
  try {
    for (let i = 1; i <= 5; i++) assert.equal(a.t.send(heartbeat(1, 2, i)), undefined);
    let s = a.t.stats().get(2)!;
    assert.deepEqual([s.queued, s.dropped, s.connected], [3, 2, false]);
    assert.ok(a.log.find('warn', /send queue to node 2 is full/).length === 1);

    // Unknown peer, too large a message, and something not even a message: all dropped and counted.
    a.t.send(heartbeat(1, 7, 1));
    a.t.send(heartbeat(1, 1, 1)); // to itself
    assert.equal(a.t.counters().droppedUnknownPeer, 2);
    a.t.send({ ...(oneOfEach(1, 2, 1, 10_000)[8] as Message) });
    assert.equal(a.t.stats().get(2)!.dropped, 3);
    assert.doesNotThrow(() => a.t.send(null as unknown as Message));

    // Many sends while disconnected: synchronous, bounded.
    const t0 = performance.now();
    for (let i = 0; i < 20_000; i++) a.t.send(heartbeat(1, 2, 1000 + i));
    assert.ok(performance.now() - t0 < 2000);
    s = a.t.stats().get(2)!;
    assert.deepEqual([s.queued, s.dropped], [3, 3 + 20_000]);

    // The peer comes up: the three newest are delivered, oldest first.
    b = await member(2, { listen: { host: LOCAL, port }, peers: new Map([[1, a.t.address]]) });
    await waitFor('delivery', () => b!.got.length === 3);
    await sleep(50);
    assert.deepEqual(
      b.got.map((m) => (m.type === MessageType.Heartbeat ? m.ctx : -1)),
      [20_997, 20_998, 20_999],
    );
  } finally {
    await a.t.close();
    await b?.t.close();
  }
});

test('a peer that stops reading: backpressure keeps messages in the bounded queue, not in the socket', async () => {
  // A hand-written acceptor that answers the hello and then stops reading.
  const received: number[] = [];
  let conn: net.Socket | undefined;
  const server = net.createServer((sock) => {
    conn = sock;
    const dec = new FrameDecoder();
    let helloSeen = false;
    sock.on('data', (c: Buffer) => {
      dec.push(c);
      for (let p = dec.next(); p !== null; p = dec.next()) {
        if (!helloSeen) {
          helloSeen = true;
          sock.write(encodeFrame(encode({ kind: 'accepted' })));
          sock.pause();
          continue;
        }
        const m = decode(p) as { offset: number };
        received.push(m.offset);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, LOCAL, r));
  const a = await member(1, { peers: new Map([[2, { host: LOCAL, port: (server.address() as net.AddressInfo).port }]]), maxQueueMessages: 50 });
  try {
    await waitFor('connected', () => a.t.stats().get(2)!.connected);
    const chunk = pattern(256 * 1024, 1);
    const total = 200;
    for (let i = 0; i < total; i++) {
      a.t.send({ type: MessageType.Snap, term: 1, from: 1, to: 2, meta: { index: 1, term: 1 }, offset: i, data: chunk, size: total * chunk.length });
      if (i % 10 === 9) await sleep(5); // let the socket push back
    }
    await sleep(100);
    const s = a.t.stats().get(2)!;
    // What the kernel buffers took was sent; the rest waits in the queue, whose overflow dropped the oldest.
    assert.ok(s.sent < total / 2, `sent ${s.sent}`);
    assert.ok(s.queued <= 50 && s.queued > 0, `queued ${s.queued}`);
    assert.ok(s.dropped > 0, `dropped ${s.dropped}`);
    assert.equal(s.sent + s.queued + s.dropped, total);

    conn!.resume();
    await waitFor('queue drained', () => a.t.stats().get(2)!.queued === 0);
    await waitFor('all sent arrive', () => received.length === a.t.stats().get(2)!.sent);
    // In order, the newest last; the gap is what overflow dropped.
    assert.deepEqual(received, [...received].sort((x, y) => x - y));
    assert.equal(received.at(-1), total - 1);
  } finally {
    await a.t.close();
    conn?.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('the queue is bounded in bytes too', async () => {
  const port = await deadPort();
  const big = (i: number): Message => ({ type: MessageType.Snap, term: 1, from: 1, to: 2, meta: { index: 1, term: 1 }, offset: 0, data: pattern(1000, i), size: 1000 });
  const size = encode(big(0)).length;
  const a = await member(1, { peers: new Map([[2, { host: LOCAL, port }]]), maxQueueBytes: Math.floor(2.5 * size) });
  try {
    for (let i = 0; i < 10; i++) a.t.send(big(i));
    const s = a.t.stats().get(2)!;
    assert.deepEqual([s.queued, s.queuedBytes, s.dropped], [2, 2 * size, 8]);
  } finally {
    await a.t.close();
  }
});

test('a garbage byte stream closes only that connection; malformed messages are dropped and counted', async () => {
  // Node 3 is configured on both but never started: a raw client will pose as it.
  const ms = await cluster(2, { handshakeTimeoutMs: 300, maxFrameBytes: 1 << 20 });
  const [a, b] = ms;
  const n3: PeerAddress = { host: LOCAL, port: await deadPort() };
  a!.t.setPeer(3, n3);
  b!.t.setPeer(3, n3);
  const raws: RawClient[] = [];
  try {
    // 1. HTTP on the Raft port: "GET " read as a length is ~542 MB.
    const http = await rawClient(a!.t.address);
    raws.push(http);
    http.sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await http.closed;
    assert.equal(a!.t.counters().frameErrors, 1);
    const err = a!.log.find('error', /^closing connection from 127\.0\.0\.1:\d+ \(before its hello\): frame announces \d+ bytes, above the limit/);
    assert.equal(err.length, 1, JSON.stringify(a!.log.lines));

    // 2. Random junk with a plausible length but a wrong CRC.
    const junk = await rawClient(a!.t.address);
    raws.push(junk);
    junk.sock.write(Buffer.concat([Buffer.from([10, 0, 0, 0, 1, 2, 3, 4]), Buffer.from(pattern(10, 1))]));
    await junk.closed;
    assert.equal(a!.t.counters().frameErrors, 2);

    // 3. A few bytes, then silence: closed at the handshake deadline.
    const mute = await rawClient(a!.t.address);
    raws.push(mute);
    mute.sock.write(Buffer.from([1, 2, 3]));
    await mute.closed;
    assert.ok(a!.log.find('warn', /no hello from 127\.0\.0\.1:\d+ within 300 ms/).length === 1);

    // 4. A correct hello as node 3, then bad messages on the accepted connection.
    const posing = await rawClient(a!.t.address);
    raws.push(posing);
    posing.send(hello(3, 1));
    await waitFor('accepted', () => posing.frames.length === 1);
    assert.deepEqual(posing.frames, [{ kind: 'accepted' }]);
    posing.send({ type: MessageType.Heartbeat, term: 'x', from: 3, to: 1, commit: 0, ctx: 1 }); // malformed
    posing.sock.write(encodeFrame(new Uint8Array([0xc1]))); // not msgpack at all (0xc1 is never used)
    posing.send(heartbeat(2, 1, 1)); // well-formed, but not from the node that said hello
    posing.send(heartbeat(3, 2, 1)); // not for this node
    posing.send(heartbeat(3, 1, 42)); // fine
    await waitFor('valid message delivered', () => a!.got.length === 1);
    assert.deepEqual(a!.got, [heartbeat(3, 1, 42)]);
    assert.equal(posing.isClosed(), false, 'malformed messages do not close the connection');
    assert.equal(a!.t.stats().get(3)!.rejected, 4);
    assert.equal(a!.t.stats().get(3)!.received, 1);
    const warns = a!.log.find('warn', /malformed message from node 3 dropped/);
    assert.equal(warns.length, 1, 'warnings are rate-limited');
    assert.match(String(warns[0]!['err']), /field term/);
    assert.equal(a!.log.find('warn', /on node 3's connection/).length, 1);

    // 5. Then a corrupted frame: that connection closes, nothing of it delivered.
    const bad = encodeFrame(encode(heartbeat(3, 1, 43)));
    bad[bad.length - 1]! ^= 0xff;
    posing.sock.write(bad);
    await posing.closed;
    assert.equal(a!.t.counters().frameErrors, 3);
    assert.ok(a!.log.find('error', /^closing connection from node 3 at 127\.0\.0\.1:\d+: frame of \d+ bytes has CRC32C/).length === 1);

    // 6. After the hello the full frame limit applies (1 MiB here); above it closes.
    const big = await rawClient(a!.t.address);
    raws.push(big);
    big.send(hello(3, 1));
    big.sock.write(frameHeader(new Uint8Array((1 << 20) + 1)));
    await big.closed;
    assert.equal(a!.t.counters().frameErrors, 4);

    assert.equal(a!.got.length, 1, 'nothing from any bad connection was delivered');
    // The real peers never noticed.
    a!.t.send(heartbeat(1, 2, 5));
    b!.t.send(heartbeat(2, 1, 6));
    await waitFor('peers still talk', () => b!.got.length === 1 && a!.got.length === 2);
    assert.equal(a!.t.stats().get(2)!.connected, true);
    assert.equal(b!.t.stats().get(1)!.connected, true);
  } finally {
    for (const r of raws) r.sock.destroy();
    await closeAll(ms);
  }
});

test('membership: a removed peer is disconnected and refused; re-adding it restores the link', async () => {
  const [a, b] = await cluster(2);
  try {
    a!.t.removePeer(2);
    assert.equal(a!.t.stats().has(2), false);
    a!.t.send(heartbeat(1, 2, 1));
    assert.equal(a!.t.counters().droppedUnknownPeer, 1);
    // b loses its connection to a and is refused when it dials again.
    await waitFor('b refused', () => b!.log.find('error', /node 1 refused our connection: refused/).length > 0);
    b!.t.send(heartbeat(2, 1, 2));
    await sleep(50);
    assert.equal(a!.got.length, 0);

    a!.t.setPeer(2, b!.t.address);
    await waitFor('reconnected', () => a!.t.stats().get(2)!.connected && b!.t.stats().get(1)!.connected);
    a!.t.send(heartbeat(1, 2, 3));
    // The message b queued while refused is delivered once it is accepted.
    await waitFor('both ways', () => b!.got.length === 1 && a!.got.length === 1);
    assert.deepEqual(a!.got, [heartbeat(2, 1, 2)]);

    assert.throws(() => a!.t.setPeer(1, b!.t.address), RangeError);
  } finally {
    await closeAll([a!, b!]);
  }
});

test('a peer moving to a new address is followed there', async () => {
  const [a, b] = await cluster(2);
  let b2: Member | undefined;
  try {
    // Node 2 moves to another port.
    await b!.t.close();
    b2 = await member(2, { peers: new Map([[1, a!.t.address]]) });
    a!.t.setPeer(2, b2.t.address);
    a!.t.send(heartbeat(1, 2, 1));
    await waitFor('delivered at the new address', () => b2!.got.length === 1);
    assert.equal(b!.got.length, 0);
  } finally {
    await closeAll([a!, b!, ...(b2 ? [b2] : [])]);
  }
});

test('close is idempotent, cancels reconnects, and later sends are dropped quietly', async () => {
  const port = await deadPort();
  const a = await member(1, { peers: new Map([[2, { host: LOCAL, port }]]) });
  a.t.send(heartbeat(1, 2, 1));
  await sleep(30); // reconnect timers are pending now
  const p1 = a.t.close();
  const p2 = a.t.close();
  assert.equal(p1, p2);
  await p1;
  assert.doesNotThrow(() => a.t.send(heartbeat(1, 2, 2)));
  assert.equal(a.t.stats().get(2)!.dropped, 1);
  assert.equal(a.t.stats().get(2)!.queued, 0);
  // Nothing may keep the process alive: node:test would time out on this file otherwise.
});

test('start rejects when the address is taken', async () => {
  const a = await member(1);
  try {
    await assert.rejects(member(2, { listen: a.t.address }), /EADDRINUSE/);
  } finally {
    await a.t.close();
  }
});

test('logs name peers by their names when given (peerName), keeping the id as peerId', async () => {
  const names = new Map<NodeId, string>([
    [60485724, 'n1'],
    [1460201009, 'n2'],
  ]);
  const a = await member(60485724, { peerName: (id) => names.get(id), peers: new Map([[1460201009, { host: LOCAL, port: await deadPort() }]]) });
  try {
    a.t.send(heartbeat(60485724, 1460201009, 1));
    await waitFor('a failed connection logged', () => a.log.find('warn', /cannot connect/).length > 0);
    const line = a.log.find('warn', /cannot connect/)[0]!;
    assert.equal(line['msg'], 'cannot connect to node n2; will retry');
    assert.equal(line['peer'], 'n2');
    assert.equal(line['peerId'], 1460201009);
    assert.equal(line['node'], 'n1', "the transport's own node is named too");
  } finally {
    await a.t.close();
  }
  // Without names, the ids as before.
  const b = await member(7, { peers: new Map([[8, { host: LOCAL, port: await deadPort() }]]) });
  try {
    b.t.send(heartbeat(7, 8, 1));
    await waitFor('a failed connection logged', () => b.log.find('warn', /cannot connect/).length > 0);
    const line = b.log.find('warn', /cannot connect/)[0]!;
    assert.equal(line['msg'], 'cannot connect to node 8; will retry');
    assert.equal(line['peer'], 8);
    assert.equal(line['peerId'], undefined);
  } finally {
    await b.t.close();
  }
});
