import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import type { Message, NodeId } from '../../src/core/types.js';
import { createCa, issueCertificate, readTlsDir, type TlsMaterial } from '../../src/security/certs.js';
import { TcpTransport, PROTOCOL_VERSION, type Hello, type TcpTransportOptions } from '../../src/transport/tcp.js';
import { FrameDecoder, encodeFrame } from '../../src/transport/frame.js';
import { decode, encode } from '../../src/util/codec.js';
import { heartbeat, sleep, startMember, waitFor, type TestMember } from './helpers.js';

const root = mkdtempSync(path.join(tmpdir(), 'tsraft-tls-transport-'));
const NAMES: Record<number, string> = { 1: 'n1', 2: 'n2', 3: 'n3' };
const material = new Map<string, TlsMaterial>();
let foreign: TlsMaterial;

before(async () => {
  await createCa(path.join(root, 'ca'));
  for (const name of ['n1', 'n2', 'n3', 'n9']) {
    await issueCertificate({ caDir: path.join(root, 'ca'), name, outDir: path.join(root, name) });
    material.set(name, await readTlsDir(path.join(root, name)));
  }
  // Another CA's certificate for a real member's name.
  await createCa(path.join(root, 'other-ca'));
  await issueCertificate({ caDir: path.join(root, 'other-ca'), name: 'n1', outDir: path.join(root, 'forged-n1') });
  foreign = await readTlsDir(path.join(root, 'forged-n1'));
});
after(() => rmSync(root, { recursive: true, force: true }));

type Member = TestMember;

/** A member with its certificate of the cluster CA. */
function member(nodeId: NodeId, opts: Partial<TcpTransportOptions> = {}): Promise<Member> {
  return startMember(nodeId, { peerName: (id) => NAMES[id], tls: material.get(NAMES[nodeId]!)!, ...opts });
}

/** Opens a raw connection (TLS with `mat`, or plain TCP without), sends a hello and frames; resolves with the reply frames or the error. */
function attack(port: number, mat: TlsMaterial | null, hello: Hello, after: Message[] = []): Promise<{ replies: unknown[]; error: string | null }> {
  return new Promise((resolve) => {
    const replies: unknown[] = [];
    let error: string | null = null;
    const dec = new FrameDecoder(1 << 16);
    const sock: net.Socket =
      mat === null
        ? net.connect({ host: '127.0.0.1', port })
        : tls.connect({ host: '127.0.0.1', port, ca: mat.ca, cert: mat.cert, key: mat.key, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined, rejectUnauthorized: false });
    sock.on('data', (c: Buffer) => {
      dec.push(c);
      let p: Uint8Array | null;
      while ((p = dec.next()) !== null) replies.push(decode(p));
    });
    sock.on('error', (e) => (error ??= e.message));
    sock.on('close', () => resolve({ replies, error }));
    sock.write(encodeFrame(encode(hello)));
    for (const m of after) sock.write(encodeFrame(encode(m)));
    setTimeout(() => sock.destroy(), 1500).unref();
  });
}

const hello = (from: NodeId, to: NodeId): Hello => ({ kind: 'hello', version: PROTOCOL_VERSION, clusterId: 'test', from, to });

test('over mutual TLS, members whose certificates name them connect both ways and messages flow', async () => {
  const a = await member(1);
  const b = await member(2);
  try {
    a.t.setPeer(2, b.t.address);
    b.t.setPeer(1, a.t.address);
    await waitFor('connected both ways', () => a.t.stats().get(2)!.connected && b.t.stats().get(1)!.connected);
    a.t.send(heartbeat(1, 2, 7));
    await waitFor('delivered', () => b.got.length === 1);
    assert.equal((b.got[0] as { ctx: number }).ctx, 7);
    assert.equal(b.t.counters().refusedCertificates, 0);
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

test('a dialer does not talk to an acceptor whose certificate names another member', async () => {
  // b is node 2 but holds n3's certificate: a, dialling node 2, must not accept it.
  const a = await member(1);
  const b = await member(2, { tls: material.get('n3')! });
  try {
    a.t.setPeer(2, b.t.address);
    a.t.send(heartbeat(1, 2, 1));
    await waitFor('a logged why it cannot connect', () => a.log.find('warn', /cannot connect to node n2/).some((l) => /not for n2/.test(String(l['err']))));
    assert.equal(a.t.stats().get(2)!.connected, false);
    assert.equal(b.got.length, 0);
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

test('impersonation is refused: plaintext, another CA, a member certificate claiming another member, a non-member; logged once per source', async () => {
  const a = await member(1);
  a.t.setPeer(2, { host: '127.0.0.1', port: 1 });
  a.t.setPeer(3, { host: '127.0.0.1', port: 1 });
  const port = a.t.address.port;
  const forged = heartbeat(2, 1, 99);
  try {
    for (let i = 0; i < 3; i++) {
      // Plaintext TCP: not even a TLS handshake.
      const plain = await attack(port, null, hello(2, 1), [forged]);
      assert.deepEqual(plain.replies, []);
      // Another CA's certificate for the name n2 would claim: the handshake fails.
      const other = await attack(port, foreign, hello(2, 1), [forged]);
      assert.equal(other.replies.length, 0);
      // n3's real certificate claiming to be n2: refused after the hello.
      const wrong = await attack(port, material.get('n3')!, hello(2, 1), [forged]);
      assert.equal((wrong.replies[0] as { kind: string }).kind, 'refused');
      assert.equal(wrong.replies.length, 1);
      // n9's real certificate: n9 is not a member.
      const outsider = await attack(port, material.get('n9')!, hello(2, 1), [forged]);
      assert.equal((outsider.replies[0] as { kind: string }).kind, 'refused');
    }
    await sleep(100);
    assert.equal(a.got.length, 0, 'nothing was delivered');
    const c = a.t.counters();
    assert.equal(c.tlsHandshakeFailures, 6);
    assert.equal(c.refusedCertificates, 6);
    // One line per source and kind in the interval, not one per attempt.
    assert.equal(a.log.find('warn', /TLS handshake with .* failed/).length, 1, JSON.stringify(a.log.find('warn', /TLS handshake/)));
    assert.equal(a.log.find('error', /its certificate names/).length, 1, JSON.stringify(a.log.find('error', /its certificate names/)));
  } finally {
    await a.t.close();
  }
});

test('a valid certificate of a member still cannot open a connection while that member is not a configured peer', async () => {
  const a = await member(1);
  try {
    const r = await attack(a.t.address.port, material.get('n3')!, hello(3, 1), [heartbeat(3, 1, 1)]);
    assert.equal((r.replies[0] as { kind: string }).kind, 'refused');
    assert.equal(a.got.length, 0);
    // Once n3 is a member, the same credentials are accepted.
    a.t.setPeer(3, { host: '127.0.0.1', port: 1 });
    const ok = await attack(a.t.address.port, material.get('n3')!, hello(3, 1), [heartbeat(3, 1, 2)]);
    assert.equal((ok.replies[0] as { kind: string }).kind, 'accepted');
    await waitFor('delivered', () => a.got.length === 1);
  } finally {
    await a.t.close();
  }
});

test('idle connections that never say hello are capped per address; members still connect', async () => {
  const a = await member(1, { maxPendingPerAddress: 4, handshakeTimeoutMs: 3000 });
  const b = await member(2);
  const idle: net.Socket[] = [];
  try {
    for (let i = 0; i < 12; i++) {
      const s = net.connect({ host: '127.0.0.1', port: a.t.address.port });
      s.on('error', () => undefined);
      idle.push(s);
    }
    await waitFor('capped', () => a.t.counters().cappedConnections >= 8);
    assert.equal(a.t.counters().cappedConnections, 8);
    assert.equal(a.log.find('warn', /too many peer connections from/).length, 1);
    for (const s of idle) s.destroy();
    await sleep(50);
    // The slots are released when those sockets close: a member gets in.
    a.t.setPeer(2, b.t.address);
    b.t.setPeer(1, a.t.address);
    await waitFor('connected both ways', () => a.t.stats().get(2)!.connected && b.t.stats().get(1)!.connected);
  } finally {
    for (const s of idle) s.destroy();
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

test('tls needs peerName and excludes the socket seams', async () => {
  await assert.rejects(
    TcpTransport.start({ clusterId: 'x', nodeId: 1, listen: { host: '127.0.0.1', port: 0 }, peers: new Map(), onMessage: () => undefined, tls: material.get('n1')! }),
    /tls needs peerName/,
  );
  await assert.rejects(
    TcpTransport.start({ clusterId: 'x', nodeId: 1, listen: { host: '127.0.0.1', port: 0 }, peers: new Map(), onMessage: () => undefined, tls: material.get('n1')!, peerName: () => 'n1', connect: () => net.connect(1) }),
    /cannot be combined/,
  );
});
