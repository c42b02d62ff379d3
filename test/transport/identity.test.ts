import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeId } from '../../src/core/types.js';
import type { TcpTransportOptions } from '../../src/transport/tcp.js';
import { heartbeat, sleep, startMember, waitFor, type TestMember } from './helpers.js';

interface Member extends TestMember {
  readonly seen: { id: NodeId; uid: string | undefined; apiUrl: string | undefined }[];
}

/** A transport whose identity check records what it sees and refuses what `refuse` says. */
async function member(nodeId: NodeId, uid: string, refuse: (id: NodeId, uid: string | undefined) => string | null = () => null, opts: Partial<TcpTransportOptions> = {}): Promise<Member> {
  const seen: Member['seen'] = [];
  const m = await startMember(nodeId, {
    uid,
    apiUrl: `http://api-of-${nodeId}`,
    verifyPeer: (id, p) => {
      seen.push({ id, uid: p.uid, apiUrl: p.apiUrl });
      return refuse(id, p.uid);
    },
    ...opts,
  });
  return { ...m, seen };
}

test('the hello carries the sender uid and API URL, the acceptance the acceptor uid; both sides verify them', async () => {
  const a = await member(1, 'uid-a');
  const b = await member(2, 'uid-b');
  try {
    a.t.setPeer(2, b.t.address);
    b.t.setPeer(1, a.t.address);
    await waitFor('connected both ways', () => a.t.stats().get(2)!.connected && b.t.stats().get(1)!.connected);
    // b saw a's hello (uid and API URL) and a's acceptance of b's hello (uid only), and vice versa.
    assert.deepEqual(
      b.seen.filter((s) => s.apiUrl !== undefined),
      [{ id: 1, uid: 'uid-a', apiUrl: 'http://api-of-1' }],
    );
    assert.deepEqual(
      b.seen.filter((s) => s.apiUrl === undefined),
      [{ id: 1, uid: 'uid-a', apiUrl: undefined }],
    );
    assert.deepEqual(a.seen.map((s) => s.uid), ['uid-b', 'uid-b']);
    a.t.send(heartbeat(1, 2, 1));
    await waitFor('delivered', () => b.got.length === 1);
    assert.deepEqual(a.t.peerIds(), [2]);
    a.t.removePeer(2);
    assert.deepEqual(a.t.peerIds(), []);
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

test('a peer presenting another uid is refused with an identity reason; the refused side is told, nothing it sends is delivered', async () => {
  const refusals: { id: NodeId; reason: string }[] = [];
  const a = await member(1, 'uid-a', (id, uid) => (id === 2 && uid !== 'uid-b-old' ? "this node's data directory is not the one the cluster knows as n2" : null));
  const b = await member(2, 'uid-b-new', () => null, { onIdentityRefused: (id, reason) => refusals.push({ id, reason }) });
  try {
    a.t.setPeer(2, b.t.address);
    b.t.setPeer(1, a.t.address);
    b.t.send(heartbeat(2, 1, 1));
    await waitFor('b told why', () => refusals.length > 0);
    assert.deepEqual(refusals[0], { id: 1, reason: "this node's data directory is not the one the cluster knows as n2" });
    assert.ok(a.t.counters().refusedIdentities >= 1);
    // a also drops its own connection to b: b accepted it, but with the wrong uid.
    await waitFor('a dropped its outbound connection', () => a.log.find('error', /is not who it claims to be/).length > 0);
    a.t.send(heartbeat(1, 2, 2));
    await sleep(100);
    assert.equal(a.got.length, 0, 'nothing from the refused peer was delivered');
    assert.equal(b.got.length, 0, 'nothing was sent to the peer with the wrong uid');
    assert.equal(a.t.stats().get(2)!.connected, false);
    assert.ok(a.log.find('error', /refused connection from node 2/).length > 0, 'the refusing side logs an error');
    assert.ok(b.log.find('error', /refused our connection/).length > 0, 'the refused side logs an error');
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

test('an identity refusal does not reveal the cluster id', async () => {
  const a = await member(1, 'uid-a', () => 'not the one the cluster knows as n2');
  const b = await member(2, 'uid-b');
  try {
    b.t.setPeer(1, a.t.address);
    a.t.setPeer(2, b.t.address);
    await waitFor('refused', () => b.log.find('error', /refused our connection/).length > 0);
    for (const line of b.log.find('error', /refused our connection/)) assert.doesNotMatch(JSON.stringify(line), /"test"|cluster id/);
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});
