/**
 * Raw peer frames against a real TcpTransport on loopback (insecure mode):
 * garbage, a huge announced length, a bad CRC, hellos with the wrong version,
 * cluster, sender or addressee, a first frame that is not a hello, and a valid
 * hello followed by malformed messages; then random sequences of such frames.
 * Every such connection is refused or closed, a refusal tells the caller
 * nothing about the cluster or the node, nothing reaches onMessage, and a real
 * peer's messages still flow.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import type { Message } from '../../src/core/types.js';
import { FRAME_HEADER_BYTES, FrameDecoder, encodeFrame } from '../../src/transport/frame.js';
import { TcpTransport, type PeerAddress } from '../../src/transport/tcp.js';
import { concatBytes } from '../../src/util/bytes.js';
import { decode, encode } from '../../src/util/codec.js';
import { SeededRandom } from '../../src/util/random.js';
import { captureLog, heartbeat, oneOfEach, waitFor, type CapturedLog } from '../transport/helpers.js';
import { checkAsyncProperty } from '../util/property.js';
import { fuzz } from './fuzz.js';

const CLUSTER = 'probe-cluster-7f3a';
const LOCAL = '127.0.0.1';

let a: TcpTransport;
let b: TcpTransport;
const gotA: Message[] = [];
const gotB: Message[] = [];
let logA: CapturedLog;

before(async () => {
  logA = captureLog();
  const common = { clusterId: CLUSTER, listen: { host: LOCAL, port: 0 }, peers: new Map<number, PeerAddress>(), reconnectMinMs: 10, reconnectMaxMs: 50, handshakeTimeoutMs: 300 };
  a = await TcpTransport.start({ ...common, nodeId: 1, onMessage: (m) => gotA.push(m), logger: logA.logger, random: new SeededRandom(1) });
  b = await TcpTransport.start({ ...common, nodeId: 2, onMessage: (m) => gotB.push(m), random: new SeededRandom(2) });
  a.setPeer(2, b.address);
  b.setPeer(1, a.address);
  await waitFor('a and b connected', () => a.stats().get(2)!.connected && b.stats().get(1)!.connected);
});

after(async () => {
  await Promise.all([a.close(), b.close()]);
});

/** What a raw connection got back: the decoded reply frames, their raw bytes, and whether the transport closed it. */
interface Probe {
  readonly replies: unknown[];
  readonly raw: Buffer;
}

/** Opens a connection to `a`, writes `bytes` (in pieces), and waits until the transport closes it (or `timeoutMs`). */
async function probe(bytes: Uint8Array, pieces = 1, timeoutMs = 3000): Promise<Probe & { closed: boolean }> {
  const sock = net.connect(a.address.port, a.address.host);
  const received: Buffer[] = [];
  sock.on('data', (c: Buffer) => received.push(c));
  sock.on('error', () => {}); // a reset is one way of being closed
  const closed = new Promise<boolean>((resolve) => {
    sock.once('close', () => resolve(true));
    setTimeout(() => resolve(false), timeoutMs).unref();
  });
  await new Promise<void>((resolve) => sock.once('connect', resolve));
  const step = Math.max(1, Math.ceil(bytes.length / pieces));
  for (let i = 0; i < bytes.length; i += step) {
    if (sock.destroyed) break;
    sock.write(bytes.subarray(i, i + step));
  }
  const wasClosed = await closed;
  sock.destroy();
  const raw = Buffer.concat(received);
  const dec = new FrameDecoder();
  dec.push(raw);
  const replies: unknown[] = [];
  for (let p = dec.next(); p !== null; p = dec.next()) replies.push(decode(p));
  return { replies, raw, closed: wasClosed };
}

const frame = (v: unknown): Uint8Array => encodeFrame(encode(v));
const hello = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ kind: 'hello', version: 1, clusterId: CLUSTER, from: 2, to: 1, ...over });

/** A refusal must say "refused" and nothing else: not the cluster id, not this node's id. */
function assertOpaqueRefusal(p: Probe, what: string): void {
  assert.deepEqual(p.replies, [{ kind: 'refused', reason: 'refused' }], `${what}: the only reply is an opaque refusal`);
  assert.ok(!p.raw.includes(Buffer.from(CLUSTER)), `${what}: the reply does not carry the cluster id`);
}

/** A real message between the two real transports still flows, both ways. */
async function realPeersStillTalk(ctx: number): Promise<void> {
  const [na, nb] = [gotA.length, gotB.length];
  b.send(heartbeat(2, 1, ctx));
  a.send(heartbeat(1, 2, ctx));
  await waitFor(`real heartbeat ${ctx} delivered both ways`, () => gotA.length > na && gotB.length > nb);
  assert.deepEqual(gotA.slice(na), [heartbeat(2, 1, ctx)]);
  assert.deepEqual(gotB.slice(nb), [heartbeat(1, 2, ctx)]);
}

test('each raw probe is closed or refused without a word about the cluster, nothing is delivered, and the real peers keep talking', async () => {
  const hugeHeader = new Uint8Array(FRAME_HEADER_BYTES).fill(0xff);
  const badCrc = frame(hello());
  badCrc[FRAME_HEADER_BYTES + 3]! ^= 0x40;
  const refusedHellos: [string, unknown][] = [
    ['a hello with the wrong version', hello({ version: 2 })],
    ['a hello for another cluster', hello({ clusterId: 'other' })],
    ['a hello addressed to another node', hello({ to: 3 })],
    ['a hello from a node that is not a peer', hello({ from: 9 })],
    ['a hello with a string id', hello({ from: '2' })],
    ['a first frame that is a Raft message, not a hello', heartbeat(2, 1, 1)],
    ['a first frame that is not even a map', [1, 2, 3]],
  ];
  let n = 0;
  for (const [what, first] of refusedHellos) {
    const p = await probe(concatBytes([frame(first), frame(heartbeat(2, 1, 99))]));
    assert.ok(p.closed, `${what}: closed`);
    assertOpaqueRefusal(p, what);
    n++;
  }
  // Framing damage: closed without a reply.
  for (const [what, bytes] of [
    ['garbage bytes', Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff)],
    ['a header announcing 4 GiB', hugeHeader],
    ['a hello with a bad CRC', badCrc],
  ] as const) {
    const p = await probe(bytes);
    assert.ok(p.closed, `${what}: closed`);
    assert.deepEqual(p.replies, [], `${what}: no reply`);
    n++;
  }
  // The details of each refusal are in the refusing node's log, and only there.
  assert.ok(logA.find('error', /^refused connection from .*: cluster id "other" does not match this node's "probe-cluster-7f3a"/).length === 1);
  assert.ok(logA.find('error', /closing connection from .*before its hello.*above the limit/).length >= 1);
  assert.equal(gotA.length, 0, 'nothing from a probe was delivered');
  await realPeersStillTalk(1);
  assert.equal(n, refusedHellos.length + 3);
});

test('a valid hello followed by malformed messages: none is delivered; bad framing closes the connection; the real peer recovers', async () => {
  const before = gotA.length;
  const malformed = [{ ...heartbeat(2, 1, 5), term: -1 }, { ...heartbeat(2, 1, 5), type: 99 }, 'not a message', { ...heartbeat(3, 1, 5) }, { ...heartbeat(2, 4, 5) }, { ...oneOfEach(2, 1)[2]!, entries: [{ index: 1 }] }];
  const p = await probe(concatBytes([frame(hello()), ...malformed.map(frame), new Uint8Array(FRAME_HEADER_BYTES).fill(0xff)]));
  assert.ok(p.closed, 'the 4 GiB header after the handshake closes the connection');
  assert.deepEqual(p.replies, [{ kind: 'accepted' }], 'the impersonating hello is accepted in insecure mode (peer authentication is the TLS work of issue 11)');
  assert.equal(gotA.length, before, 'no malformed message was delivered');
  // The impersonation replaced b's inbound connection; b reconnects and its messages flow again.
  await realPeersStillTalk(2);
});

/** Pieces a hostile client strings together on one connection (never a valid hello, so nothing may ever be accepted). */
const badFrameArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 100 }),
  fc.uint8Array({ maxLength: 100 }).map((p) => encodeFrame(p)),
  fc
    .record({ version: fc.oneof(fc.constant(1), fc.integer()), clusterId: fc.oneof(fc.constant(CLUSTER), fc.string()), from: fc.oneof(fc.constant(2), fc.integer(), fc.string()), to: fc.oneof(fc.constant(1), fc.integer()) }, { requiredKeys: [] })
    // Keep it invalid in at least one field.
    .filter((h) => !(h.version === 1 && h.clusterId === CLUSTER && h.from === 2 && h.to === 1))
    .map((h) => frame({ kind: 'hello', ...h })),
  fc.constantFrom(...oneOfEach(2, 1)).map(frame),
  fc.integer({ min: 0, max: 0xffff_ffff }).map((len) => {
    const h = new Uint8Array(FRAME_HEADER_BYTES);
    new DataView(h.buffer).setUint32(0, len, true);
    return h;
  }),
);

test('fuzz peer-frames: random hostile byte sequences on raw connections never get past the handshake, and every one is closed', async (t) => {
  const before = gotA.length;
  let closed = 0;
  await fuzz(t, 'peer-frames', () =>
    checkAsyncProperty(
      import.meta.url,
      fc.asyncProperty(fc.array(badFrameArb, { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 4 }), async (parts, pieces) => {
        // The handshake timeout (300 ms) closes a connection whose hello never completes.
        const p = await probe(concatBytes(parts), pieces, 3000);
        assert.ok(p.closed, 'the transport closed the connection');
        closed++;
        for (const r of p.replies) assert.deepEqual(r, { kind: 'refused', reason: 'refused' }, 'a hostile caller only ever hears "refused"');
        assert.ok(!p.raw.includes(Buffer.from(CLUSTER)), 'no reply carries the cluster id');
        assert.equal(gotA.length, before, 'nothing was delivered');
      }),
      { numRuns: 300 },
    ),
  );
  t.diagnostic(`fuzz peer-frames: ${closed} connections closed by the transport`);
  await realPeersStillTalk(3);
});
