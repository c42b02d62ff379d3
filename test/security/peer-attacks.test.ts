/**
 * The attacks of issue 11, point 1, replayed against a real 3-node cluster
 * (in-process TsraftServers on loopback, FileStorage, the TCP transport with
 * peer TLS on) by an attacker that knows the cluster id and the member names
 * (hence their ids) and speaks the real frame format. Each attack must be
 * refused, logged once (not once per attempt), and have no effect: no entry
 * appended on any node, no term change, a real client's writes keep
 * succeeding meanwhile, and linearizable reads agree on every node afterwards.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { EntryType, MessageType, type Message, type NodeId } from '../../src/core/types.js';
import { encodeCommand } from '../../src/kv/commands.js';
import { createCa, issueCertificate, readTlsDir, type TlsMaterial } from '../../src/security/certs.js';
import { nodeIdOf } from '../../src/server/config.js';
import { FrameDecoder, encodeFrame } from '../../src/transport/frame.js';
import { PROTOCOL_VERSION, type Hello } from '../../src/transport/tcp.js';
import { decode, encode } from '../../src/util/codec.js';
import { TestCluster, waitFor } from '../server/helpers.js';
import { captureLog, type CapturedLog } from '../transport/helpers.js';

const CLUSTER_ID = 'test-cluster';
const ID = (name: string): NodeId => nodeIdOf(name);
/** Heartbeats every 100 ms, elections after 1–2 s: a busy machine must not hold a real election during the test. */
const TIMING = { tickMs: 10, heartbeatTicks: 10, electionTicks: 100 };

const scratch = mkdtempSync(path.join(tmpdir(), 'tsraft-attacker-'));
/** A CA of the attacker's own, and its certificate for the leader's name. */
let selfMade: Map<string, TlsMaterial>;
after(() => rmSync(scratch, { recursive: true, force: true }));
before(async () => {
  await createCa(path.join(scratch, 'ca'));
  selfMade = new Map();
  for (const n of ['n1', 'n2', 'n3']) {
    await issueCertificate({ caDir: path.join(scratch, 'ca'), name: n, outDir: path.join(scratch, n) });
    selfMade.set(n, await readTlsDir(path.join(scratch, n)));
  }
});

interface Harness {
  readonly c: TestCluster;
  readonly logs: Map<string, CapturedLog>;
  readonly leader: string;
  readonly followers: [string, string];
}

async function withCluster(fn: (h: Harness) => Promise<void>): Promise<void> {
  const logs = new Map<string, CapturedLog>();
  const c = await TestCluster.start(3, {
    peerTls: true,
    timing: TIMING,
    logger: (name) => {
      const l = captureLog();
      logs.set(name, l);
      return l.logger.child({ node: name });
    },
  });
  try {
    const leader = (await c.leader()).config.name;
    const followers = ['n1', 'n2', 'n3'].filter((n) => n !== leader) as [string, string];
    // Settle: every node connected and holding the leader's first entries.
    await c.put('before', 'attack');
    for (const n of ['n1', 'n2', 'n3']) await c.holds(n, new Map([['before', 'attack']]));
    await fn({ c, logs, leader, followers });
  } finally {
    await c.close();
  }
}

/** A cluster-CA certificate for `name`, made the way an operator would (also for non-members: the CA signs what it is asked to). */
async function clusterCert(c: TestCluster, name: string): Promise<TlsMaterial> {
  const out = path.join(c.root, 'stolen', name);
  await issueCertificate({ caDir: path.join(c.root, 'ca'), name, outDir: out });
  return readTlsDir(out);
}

function raftPort(c: TestCluster, name: string): number {
  return c.get(name).raftAddress.port;
}

/**
 * One attack connection: plain TCP (`creds` null) or TLS presenting `creds`
 * (and trusting any server), a hello, then `frames`. Resolves with the frames
 * the node answered and whether the connection got past the TLS handshake.
 */
function attack(port: number, creds: TlsMaterial | null, hello: Hello, frames: readonly Message[]): Promise<{ replies: { kind?: unknown }[] }> {
  return new Promise((resolve) => {
    const replies: { kind?: unknown }[] = [];
    const dec = new FrameDecoder(1 << 16);
    const sock: net.Socket =
      creds === null
        ? net.connect({ host: '127.0.0.1', port })
        : tls.connect({ host: '127.0.0.1', port, ca: creds.ca, cert: creds.cert, key: creds.key, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
    sock.on('data', (b: Buffer) => {
      try {
        dec.push(b);
        let p: Uint8Array | null;
        while ((p = dec.next()) !== null) replies.push(decode(p));
      } catch {
        replies.push({ kind: '<not a frame>' });
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve({ replies }));
    sock.write(encodeFrame(encode(hello)));
    for (const m of frames) sock.write(encodeFrame(encode(m)));
    setTimeout(() => sock.destroy(), 2000).unref();
  });
}

const hello = (from: NodeId, to: NodeId): Hello => ({ kind: 'hello', version: PROTOCOL_VERSION, clusterId: CLUSTER_ID, from, to });

/** The leader's AppendEntries of the issue: term+1, a made-up entry, commit = lastIndex+1. */
function forgedAppend(h: Harness, to: string, key: string): Message {
  const st = h.c.get(h.leader).node.status();
  return {
    type: MessageType.App,
    term: st.term + 1,
    from: ID(h.leader),
    to: ID(to),
    prevIndex: st.lastIndex,
    prevTerm: st.term,
    entries: [{ index: st.lastIndex + 1, term: st.term + 1, type: EntryType.Normal, data: encodeCommand({ op: 'put', key, value: 'forged', time: Date.now() }) }],
    commit: st.lastIndex + 1,
  };
}

/** Writes through the leader until stopped (for at least 2 s), counting successes and failures (no retries: a failure is a failure). */
function writer(h: Harness): { stop: () => Promise<{ ok: number; failed: number; keys: Map<string, string> }> } {
  let stopped = false;
  const keys = new Map<string, string>();
  let ok = 0;
  let failed = 0;
  const run = (async () => {
    const kv = h.c.get(h.leader).kv;
    for (let i = 0; !stopped; i++) {
      try {
        // A write that hangs is as unavailable as one that fails.
        await Promise.race([kv.put(`real-${i}`, `v${i}`), new Promise((_, reject) => setTimeout(() => reject(new Error('write timed out')), 3000).unref())]);
        keys.set(`real-${i}`, `v${i}`);
        ok++;
      } catch {
        failed++;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const t0 = Date.now();
  return {
    stop: async () => {
      // Writes span the whole attack and a little after, whatever its length.
      await new Promise((r) => setTimeout(r, Math.max(0, 2000 - (Date.now() - t0))));
      stopped = true;
      await run;
      return { ok, failed, keys };
    },
  };
}

interface Before {
  readonly terms: Map<string, number>;
  readonly lastIndex: number;
}

function snapshot(h: Harness): Before {
  const terms = new Map(['n1', 'n2', 'n3'].map((n) => [n, h.c.get(n).node.status().term]));
  return { terms, lastIndex: h.c.get(h.leader).node.status().lastIndex };
}

/**
 * No effect: the same term everywhere, exactly the real writes appended on
 * every node (nothing else), the forged key nowhere, and linearizable reads of
 * every key agreeing on all nodes.
 */
async function assertNoEffect(h: Harness, b: Before, w: { ok: number; failed: number; keys: Map<string, string> }, forgedKeys: readonly string[]): Promise<void> {
  assert.equal(w.failed, 0, 'no real write failed during the attack');
  assert.ok(w.ok >= 5, `real writes went on during the attack (${w.ok})`);
  const want = b.lastIndex + w.ok;
  await waitFor('every node holds exactly the real writes', () => ['n1', 'n2', 'n3'].every((n) => h.c.get(n).node.status().lastIndex === want && h.c.get(n).node.status().commitIndex === want), 10_000).catch(() => {
    const seen = ['n1', 'n2', 'n3'].map((n) => `${n}: last ${h.c.get(n).node.status().lastIndex}, commit ${h.c.get(n).node.status().commitIndex}`);
    assert.fail(`expected last = commit = ${want} (${b.lastIndex} + ${w.ok} real writes) on every node; ${seen.join('; ')}`);
  });
  for (const n of ['n1', 'n2', 'n3']) assert.equal(h.c.get(n).node.status().term, b.terms.get(n), `${n}'s term did not change`);
  for (const n of ['n1', 'n2', 'n3']) {
    const kv = h.c.get(n).kv;
    for (const k of forgedKeys) assert.equal(await kv.get(k, 'linearizable'), null, `${k} is on no node (${n})`);
    for (const [k, v] of [...w.keys].slice(-20)) assert.equal((await kv.get(k, 'linearizable'))?.value, v, `${n} reads ${k}`);
    assert.equal((await kv.get('before', 'linearizable'))?.value, 'attack');
  }
  for (const n of ['n1', 'n2', 'n3']) assert.deepEqual(h.c.fatal.get(n), [], `${n} did not stop`);
}

async function refusals(h: Harness, name: string, reason: string): Promise<number> {
  const text = await (await fetch(`${h.c.get(name).apiUrl}/metrics`)).text();
  const m = new RegExp(`^tsraft_peer_connections_refused\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)`, 'm').exec(text);
  return m === null ? 0 : Number(m[1]);
}

const ATTEMPTS = 4;

test('(a) plaintext TCP: a hello claiming to be the leader and an AppendEntries at term+1 committing a made-up entry', { timeout: 60_000 }, async () => {
  await withCluster(async (h) => {
    const b = snapshot(h);
    const w = writer(h);
    const target = h.followers[0];
    for (let i = 0; i < ATTEMPTS; i++) {
      const r = await attack(raftPort(h.c, target), null, hello(ID(h.leader), ID(target)), [forgedAppend(h, target, 'forged-a')]);
      // Not a word back: the TLS server never read a hello.
      assert.ok(r.replies.every((x) => x.kind !== 'accepted' && x.kind !== 'refused'), JSON.stringify(r.replies));
    }
    await assertNoEffect(h, b, await w.stop(), ['forged-a']);
    const log = h.logs.get(target)!;
    assert.equal(log.find('warn', /TLS handshake with 127\.0\.0\.1(:\d+)? failed/).length, 1, 'logged once for the four attempts');
    assert.equal(await refusals(h, target, 'tls-handshake'), ATTEMPTS);
  });
});

test('(b) TLS with a self-made CA certificate for CN=<leader>: the same AppendEntries is refused at the handshake', { timeout: 60_000 }, async () => {
  await withCluster(async (h) => {
    const b = snapshot(h);
    const w = writer(h);
    const target = h.followers[0];
    for (let i = 0; i < ATTEMPTS; i++) {
      const r = await attack(raftPort(h.c, target), selfMade.get(h.leader)!, hello(ID(h.leader), ID(target)), [forgedAppend(h, target, 'forged-b')]);
      assert.deepEqual(r.replies, []);
    }
    await assertNoEffect(h, b, await w.stop(), ['forged-b']);
    assert.equal(h.logs.get(target)!.find('warn', /TLS handshake with 127\.0\.0\.1(:\d+)? failed/).length, 1);
    assert.equal(await refusals(h, target, 'tls-handshake'), ATTEMPTS);
  });
});

test("(c) TLS with a real member's valid certificate (another follower's) claiming to be the leader: refused after the hello", { timeout: 60_000 }, async () => {
  await withCluster(async (h) => {
    const b = snapshot(h);
    const w = writer(h);
    const [target, other] = h.followers;
    const creds = await readTlsDir(path.join(h.c.root, 'certs', other));
    for (let i = 0; i < ATTEMPTS; i++) {
      const r = await attack(raftPort(h.c, target), creds, hello(ID(h.leader), ID(target)), [forgedAppend(h, target, 'forged-c')]);
      assert.equal(r.replies.length, 1, JSON.stringify(r.replies));
      assert.equal(r.replies[0]!.kind, 'refused');
    }
    await assertNoEffect(h, b, await w.stop(), ['forged-c']);
    const lines = h.logs.get(target)!.find('error', /its certificate names/);
    assert.equal(lines.length, 1);
    assert.match(String(lines[0]!['msg']), new RegExp(`certificate names "${other}", but its hello claims to be node ${h.leader}`));
    assert.equal(await refusals(h, target, 'certificate'), ATTEMPTS);
  });
});

test('(d) a valid cluster-CA certificate for a name that is not a member (n9): refused as itself, and as the leader', { timeout: 60_000 }, async () => {
  await withCluster(async (h) => {
    const b = snapshot(h);
    const w = writer(h);
    const target = h.followers[0];
    const creds = await clusterCert(h.c, 'n9');
    for (let i = 0; i < ATTEMPTS; i++) {
      const asItself = await attack(raftPort(h.c, target), creds, hello(ID('n9'), ID(target)), [{ ...forgedAppend(h, target, 'forged-d'), from: ID('n9') }]);
      assert.deepEqual(asItself.replies.map((x) => x.kind), ['refused']);
      const asLeader = await attack(raftPort(h.c, target), creds, hello(ID(h.leader), ID(target)), [forgedAppend(h, target, 'forged-d')]);
      assert.deepEqual(asLeader.replies.map((x) => x.kind), ['refused']);
    }
    await assertNoEffect(h, b, await w.stop(), ['forged-d']);
    const log = h.logs.get(target)!;
    assert.equal(log.find('error', /its certificate names "n9"/).length, 1, 'the impersonation, once');
    const notMember = log.find('error', /^refused connection from 127\.0\.0\.1:\d+/).filter((l) => !/certificate names/.test(String(l['msg'])));
    assert.equal(notMember.length, 1, 'the non-member, once');
    assert.equal(await refusals(h, target, 'certificate'), ATTEMPTS);
    assert.equal(await refusals(h, target, 'hello'), ATTEMPTS);
  });
});

test('(e) forged heartbeats with rising terms, ten a second for 3 s, to one follower: no term change, writes unaffected', { timeout: 60_000 }, async () => {
  await withCluster(async (h) => {
    const b = snapshot(h);
    const w = writer(h);
    const target = h.followers[0];
    const creds = await readTlsDir(path.join(h.c.root, 'certs', h.followers[1]));
    const term0 = b.terms.get(target)!;
    const sent: Promise<unknown>[] = [];
    for (let k = 1; k <= 30; k++) {
      const hb: Message = { type: MessageType.Heartbeat, term: term0 + k, from: ID(h.leader), to: ID(target), commit: b.lastIndex, ctx: k };
      // Alternately in plain TCP and with another member's certificate, each on a new connection.
      sent.push(attack(raftPort(h.c, target), k % 2 === 0 ? null : creds, hello(ID(h.leader), ID(target)), [hb]));
      await new Promise((r) => setTimeout(r, 100));
    }
    await Promise.all(sent);
    await assertNoEffect(h, b, await w.stop(), []);
    const log = h.logs.get(target)!;
    assert.equal(log.find('warn', /TLS handshake with 127\.0\.0\.1(:\d+)? failed/).length, 1);
    assert.equal(log.find('error', /its certificate names/).length, 1);
    assert.equal(await refusals(h, target, 'tls-handshake'), 15);
    assert.equal(await refusals(h, target, 'certificate'), 15);
  });
});

test('(f) a forged forwarded proposal to the leader, claiming to come from a follower: refused, nothing committed', { timeout: 60_000 }, async () => {
  await withCluster(async (h) => {
    const b = snapshot(h);
    const w = writer(h);
    const claimed = h.followers[0];
    const term = b.terms.get(h.leader)!;
    const prop = (): Message => ({ type: MessageType.Prop, term, from: ID(claimed), to: ID(h.leader), data: [encodeCommand({ op: 'put', key: 'forged-f', value: 'forged', time: Date.now() })] });
    const n9 = await clusterCert(h.c, 'n9');
    for (let i = 0; i < ATTEMPTS; i++) {
      await attack(raftPort(h.c, h.leader), null, hello(ID(claimed), ID(h.leader)), [prop()]);
      await attack(raftPort(h.c, h.leader), selfMade.get(claimed)!, hello(ID(claimed), ID(h.leader)), [prop()]);
      const r = await attack(raftPort(h.c, h.leader), n9, hello(ID(claimed), ID(h.leader)), [prop()]);
      assert.deepEqual(r.replies.map((x) => x.kind), ['refused']);
    }
    await assertNoEffect(h, b, await w.stop(), ['forged-f']);
    const log = h.logs.get(h.leader)!;
    assert.equal(log.find('warn', /TLS handshake with 127\.0\.0\.1(:\d+)? failed/).length, 1);
    assert.equal(log.find('error', /its certificate names "n9"/).length, 1);
    assert.equal(await refusals(h, h.leader, 'tls-handshake'), 2 * ATTEMPTS);
    assert.equal(await refusals(h, h.leader, 'certificate'), ATTEMPTS);
  });
});
