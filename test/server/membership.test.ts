import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { isJoint } from '../../src/core/membership.js';
import { MembershipError } from '../../src/api/membership.js';
import { readMeta } from '../../src/server/meta.js';
import { PeerIdentityError } from '../../src/server/server.js';
import { TestCluster, waitFor } from './helpers.js';

const T = { timeout: 60_000 };

async function writeSome(c: TestCluster, kv: Map<string, string>, prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    kv.set(`${prefix}${i}`, `v${i}`);
    await c.put(`${prefix}${i}`, `v${i}`);
  }
}

test('a 4th node joins with --join: it catches up as a learner, is promoted to voter by itself, and holds every key', T, async () => {
  const c = await TestCluster.start(3);
  try {
    const kv = new Map<string, string>();
    await writeSome(c, kv, 'before-', 20);
    const n4 = await c.startNode({ name: 'n4', join: c.gatewayUrl });
    assert.notEqual(n4.id, 0);
    const meta = readMeta(c.dataDir('n4'))!;
    assert.equal(meta.id, n4.id);
    assert.deepEqual(meta.bootstrap, []);
    assert.equal(meta.clusterId, 'test-cluster');
    await waitFor('n4 is a voter on the leader', async () => (await c.leader()).node.conf.voters.includes(n4.id) && !isJoint((await c.leader()).node.conf));
    await writeSome(c, kv, 'after-', 20);
    await c.holds('n4', kv);
    const view = await (await c.leader()).membership.list();
    const m4 = view.members.find((m) => m.name === 'n4')!;
    assert.equal(m4.role, 'voter');
    assert.equal(m4.id, n4.id);
    assert.equal(m4.apiUrl, n4.apiUrl);
    assert.equal(view.members.length, 4);
    // Every member's transport is connected to the new member.
    for (const name of ['n1', 'n2', 'n3']) await waitFor(`${name} learned n4's address`, () => c.get(name).node.conf.voters.includes(n4.id));
  } finally {
    await c.close();
  }
});

test('a node that joins with --learner stays a learner and still receives every write', T, async () => {
  const c = await TestCluster.start(3);
  try {
    const kv = new Map<string, string>();
    await writeSome(c, kv, 'k', 10);
    const n4 = await c.startNode({ name: 'n4', join: c.gatewayUrl, learner: true });
    await c.holds('n4', kv);
    // Many promotion rounds (every heartbeat, 50 ms) later, it is still a learner.
    await new Promise((r) => setTimeout(r, 600));
    const leader = await c.leader();
    assert.ok(leader.node.conf.learners.includes(n4.id));
    assert.ok(!leader.node.conf.voters.includes(n4.id));
    // Its name is taken: joining again under it is refused with a clear message.
    await assert.rejects(c.startNode({ name: 'n4', join: c.gatewayUrl, dataDir: `${c.root}/n4-again` }), /refused to add n4: HTTP 409: n4 is already a member/);
    // An operator promotes it.
    const v = await leader.membership.promote('n4');
    assert.equal(v.role, 'voter');
    assert.ok(!isJoint(leader.node.conf));
  } finally {
    await c.close();
  }
});

test('removing a follower: the configuration drops it, every transport forgets it, writes continue', T, async () => {
  const c = await TestCluster.start(3);
  try {
    const leader = await c.leader();
    const follower = [...c.servers.values()].find((s) => s !== leader)!;
    const name = follower.config.name;
    await c.put('a', '1');
    await leader.membership.remove(name);
    assert.ok(!leader.node.conf.voters.includes(follower.id));
    assert.ok(!isJoint(leader.node.conf));
    await assert.rejects(leader.membership.remove(name), (e: unknown) => e instanceof MembershipError && e.code === 'not-found');
    await c.stopNode(name);
    await c.put('b', '2');
    assert.equal((await leader.kv.get('b'))?.value, '2');
    assert.equal((await leader.membership.list()).members.length, 2);
  } finally {
    await c.close();
  }
});

test('removing the leader: it hands over first, a new leader removes it, the old one steps down, writes continue', T, async () => {
  const c = await TestCluster.start(3);
  try {
    const old = await c.leader();
    const oldName = old.config.name;
    await c.put('x', '1');
    await old.membership.remove(oldName);
    const next = await c.leader();
    assert.notEqual(next.config.name, oldName);
    assert.ok(!next.node.conf.voters.includes(old.id));
    assert.ok(!old.node.isLeader());
    await c.stopNode(oldName);
    await c.put('y', '2');
    assert.equal((await next.kv.get('y'))?.value, '2');
    assert.equal((await next.membership.list()).members.length, 2);
  } finally {
    await c.close();
  }
});

test('leadership transfer to a named node; to the leader itself it is a no-op; to a stranger not-found', T, async () => {
  const c = await TestCluster.start(3);
  try {
    const old = await c.leader();
    const target = [...c.servers.values()].find((s) => s !== old)!.config.name;
    const r = await old.membership.transferLeader(target);
    assert.equal(r.leader, target);
    assert.equal((await c.leader()).config.name, target);
    await c.put('after-transfer', '1');
    assert.deepEqual(await c.get(target).membership.transferLeader(target), { leader: target });
    await assert.rejects(c.get(target).membership.transferLeader('nobody'), (e: unknown) => e instanceof MembershipError && e.code === 'not-found');
  } finally {
    await c.close();
  }
});

test('a node whose data directory was emptied and restarted under its old name is refused with the command to run; the others keep working', T, async () => {
  const c = await TestCluster.start(3);
  try {
    await c.put('k', 'v');
    const leader = await c.leader();
    const victim = [...c.servers.values()].find((s) => s !== leader)!;
    const name = victim.config.name;
    const cfg = victim.config;
    const oldUid = victim.uid;
    await c.stopNode(name);
    rmSync(c.dataDir(name), { recursive: true, force: true });
    const again = await c.startNode({ name, listen: cfg.listen, members: cfg.members });
    assert.notEqual(again.uid, oldUid);
    const errors = c.fatal.get(name)!;
    await waitFor('the emptied node is refused', () => errors.length > 0);
    const e = errors[0];
    assert.ok(e instanceof PeerIdentityError);
    assert.match(e.message, new RegExp(`this node's data directory is not the one the cluster knows as ${name}`));
    assert.match(e.message, new RegExp(`tsraft member remove ${name} --endpoints http://`));
    assert.match(e.message, /--join http:\/\//);
    assert.doesNotMatch(e.message, /test-cluster/, 'the refusal does not reveal the cluster id');
    assert.ok(again.node.stopped, 'the refused node stopped');
    assert.equal(again.node.status().lastIndex, 0);
    // The others count the refusals and keep serving writes.
    const others = [...c.servers.values()].filter((s) => s !== again);
    const metrics = async (): Promise<string> => (await Promise.all(others.map(async (s) => (await fetch(`${s.apiUrl}/metrics`)).text()))).join('\n');
    await waitFor('refusal counted', async () => new RegExp(`tsraft_peer_identity_refusals_total\\{[^}]*peer="${name}"[^}]*\\} [1-9]`).test(await metrics()));
    await c.stopNode(name);
    await c.put('k2', 'v2');
    assert.equal((await (await c.leader()).kv.get('k2'))?.value, 'v2');
  } finally {
    await c.close();
  }
});

test('a node that joined restarts with no --peers and no --join and takes part again', T, async () => {
  const c = await TestCluster.start(3);
  try {
    const kv = new Map<string, string>();
    const n4 = await c.startNode({ name: 'n4', join: c.gatewayUrl });
    const id = n4.id;
    await waitFor('n4 is a voter', async () => (await c.leader()).node.conf.voters.includes(id));
    await writeSome(c, kv, 'a', 10);
    await c.holds('n4', kv);
    const raft = n4.raftAddress;
    await c.stopNode('n4');
    await writeSome(c, kv, 'b', 10);
    const back = await c.startNode({ name: 'n4', listen: raft, join: 'http://127.0.0.1:1' });
    assert.equal(back.id, id, 'same id after a restart');
    await c.holds('n4', kv);
    assert.equal(c.fatal.get('n4')!.length, 0);
  } finally {
    await c.close();
  }
});

test('a follower forwards membership calls to the leader (needs the /v1/members routes of src/api/http.ts)', T, async () => {
  const c = await TestCluster.start(3);
  try {
    const leader = await c.leader();
    const follower = [...c.servers.values()].find((s) => s !== leader)!;
    await waitFor('the follower knows the leader', () => follower.node.status().leader === leader.id);
    const listed = await follower.membership.list();
    assert.equal(listed.leader, leader.config.name);
    assert.ok(listed.members.every((m) => m.matchIndex !== null), 'the leader answered, with match indexes');
    const r = await follower.membership.add({ name: 'n9', peerAddress: '127.0.0.1:1', apiUrl: 'http://127.0.0.1:2', learner: true });
    assert.equal(r.member.role, 'learner');
    assert.equal(r.clusterId, 'test-cluster');
    assert.ok(leader.node.conf.learners.includes(r.member.id));
    await follower.membership.remove('n9');
    assert.ok(!leader.node.conf.learners.includes(r.member.id));
  } finally {
    await c.close();
  }
});
